package job

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

// Revision names what pretraining computes beyond its settings. It is part
// of every pretraining job's ID, hence of every job downstream and of the
// run folder's name: bump it when a change alters what training produces
// (views, models, losses), so that a grid launched after the upgrade trains
// anew instead of mixing old and new results.
// History: "" the first release; "2" views made in the training graph.
const Revision = "2"

// Version is the project's version, recorded with every result.
const Version = "0.2.0-dev"
