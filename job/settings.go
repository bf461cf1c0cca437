package job

import (
	"fmt"
	"strings"
)

// Pretrain holds the settings shared by every pretraining job of a sweep.
type Pretrain struct {
	Epochs          int     `yaml:"epochs" json:"epochs"`
	Batch           int     `yaml:"batch" json:"batch"`
	Optimizer       string  `yaml:"optimizer" json:"optimizer"`
	LR              float64 `yaml:"lr" json:"lr"`
	WeightDecay     float64 `yaml:"weight_decay" json:"weight_decay"`
	Schedule        string  `yaml:"schedule" json:"schedule"`
	Temperature     float64 `yaml:"temperature" json:"temperature"`
	KDTemperature   float64 `yaml:"kd_temperature" json:"kd_temperature"`
	KDWeight        float64 `yaml:"kd_weight" json:"kd_weight"`
	KDReduction     string  `yaml:"kd_reduction" json:"kd_reduction"`
	TrainSubset     int     `yaml:"train_subset" json:"train_subset"`
	CheckpointEvery int     `yaml:"checkpoint_every" json:"checkpoint_every"`
	// KNNMonitor is how many training images a kNN monitor uses at each
	// checkpoint (against 1,000 test images); 0 turns it off.
	KNNMonitor int    `yaml:"knn_monitor" json:"knn_monitor"`
	Precision  string `yaml:"precision" json:"precision"`
	// Views overrides parts of the method's views; nil keeps them all (and
	// keeps the IDs of jobs planned before views could be set).
	Views *Views `yaml:"views" json:"views,omitempty"`
}

// Views are the strengths of the views pretraining makes, where a grid sets
// them; a nil field keeps the method's value for the data set. The method's:
// crops of 8-100% of the image (30-100% on grey images), no noise on colour
// images and near-Gaussian noise of std 0.1 on grey ones, colour jitter of
// strength 0.8 (0.4 for SimSiam) with probability 0.8 on colour images and
// none on grey ones.
type Views struct {
	// MinScale is the smallest crop, as a fraction of the image's area.
	MinScale *float64 `yaml:"min_scale" json:"min_scale,omitempty"`
	// Noise is the std of the noise added to each view, in pixel units
	// (the pixel range is 0..1).
	Noise *float64 `yaml:"noise" json:"noise,omitempty"`
	// Jitter is the strength of the brightness and contrast jitter (and
	// saturation on colour images), applied with probability 0.8: each
	// factor is drawn from 1 ± Jitter. On grey images it replaces the
	// colour jitter that does nothing there.
	Jitter *float64 `yaml:"jitter" json:"jitter,omitempty"`
}

// String describes the views a grid sets ("crop scale >= 0.5, noise 0"),
// "" when it sets none.
func (v *Views) String() string {
	if v == nil {
		return ""
	}
	var parts []string
	if v.MinScale != nil {
		parts = append(parts, fmt.Sprintf("crop scale >= %g", *v.MinScale))
	}
	if v.Noise != nil {
		parts = append(parts, fmt.Sprintf("noise %g", *v.Noise))
	}
	if v.Jitter != nil {
		parts = append(parts, fmt.Sprintf("jitter %g", *v.Jitter))
	}
	return strings.Join(parts, ", ")
}

// Eval holds the settings shared by every evaluation job of a sweep.
type Eval struct {
	Epochs         int     `yaml:"epochs" json:"epochs"`
	Batch          int     `yaml:"batch" json:"batch"`
	LR             float64 `yaml:"lr" json:"lr"`
	WeightDecay    float64 `yaml:"weight_decay" json:"weight_decay"`
	ValFraction    float64 `yaml:"val_fraction" json:"val_fraction"`
	TrainSubset    int     `yaml:"train_subset" json:"train_subset"`
	Standardize    bool    `yaml:"standardize" json:"standardize"`
	KNNK           int     `yaml:"knn_k" json:"knn_k"`
	KNNTemperature float64 `yaml:"knn_temperature" json:"knn_temperature"`
}

// Slurm holds the sbatch options of a sweep's job arrays.
type Slurm struct {
	Partition string   `yaml:"partition" json:"partition,omitempty"`
	Account   string   `yaml:"account" json:"account,omitempty"`
	QoS       string   `yaml:"qos" json:"qos,omitempty"`
	Time      string   `yaml:"time" json:"time,omitempty"`
	MemPerCPU string   `yaml:"mem_per_cpu" json:"mem_per_cpu,omitempty"`
	Throttle  int      `yaml:"throttle" json:"throttle,omitempty"`
	Extra     []string `yaml:"extra" json:"extra,omitempty"`
}

// Version is the project's version, recorded with every result.
const Version = "0.2.0-dev"
