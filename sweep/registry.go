package sweep

import (
	"sort"
	"strings"
)

// Arch describes an encoder architecture a grid may name.
type Arch struct {
	Name string
	// Device is "cpu" for encoders that train in reasonable time on the
	// pure-Go backend and "gpu" for those meant for XLA on a GPU (they run on
	// the Go backend too, slowly).
	Device string
	// Summary says what the encoder is.
	Summary string
}

// Archs returns the encoder architectures, by name.
func Archs() map[string]Arch {
	list := []Arch{
		{"mlp-s", "cpu", "MLP 784-256-128 (features: 128)"},
		{"mlp-m", "cpu", "MLP 784-512-256 (features: 256)"},
		{"mlp-l", "cpu", "MLP 784-1024-1024-512 (features: 512)"},
		{"cnn-s", "cpu", "CNN, 2 conv layers 16/32 channels, stride-2 3x3, global pool (features: 32)"},
		{"cnn-m", "cpu", "CNN, 3 conv layers 32/64/64 channels (features: 64)"},
		{"cnn-l", "cpu", "CNN, 3 conv layers 32/64/128 channels (features: 128)"},
		{"resnet18", "gpu", "CIFAR-stem ResNet-18 (features: 512)"},
		{"resnet34", "gpu", "CIFAR-stem ResNet-34 (features: 512)"},
		{"resnet50", "gpu", "CIFAR-stem ResNet-50 (features: 2048)"},
		{"wrn-10-2", "gpu", "Wide ResNet 10-2"},
		{"wrn-16-2", "gpu", "Wide ResNet 16-2"},
		{"wrn-16-4", "gpu", "Wide ResNet 16-4"},
		{"wrn-16-8", "gpu", "Wide ResNet 16-8"},
		{"wrn-28-2", "gpu", "Wide ResNet 28-2"},
	}
	m := make(map[string]Arch, len(list))
	for _, a := range list {
		m[a.Name] = a
	}
	return m
}

// Objectives are the self-supervised losses a peer may train with.
var objectiveNames = []string{"simclr", "simsiam"}

// NoiseKinds are the kinds of label noise.
var noiseKinds = []string{"symmetric", "asymmetric"}

// Corruptions are the out-of-distribution corruptions of a test set.
var corruptionNames = []string{"gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "contrast", "brightness", "pixelate"}

// CrossDatasetOOD returns the data set of an OOD set named "dataset:NAME".
func CrossDatasetOOD(s string) (string, bool) {
	return strings.CutPrefix(s, "dataset:")
}

// ParseOOD splits a corruption OOD set name "corruption-severity".
func ParseOOD(s string) (corruption string, severity int, ok bool) {
	i := strings.LastIndex(s, "-")
	if i < 0 {
		return "", 0, false
	}
	c, sev := s[:i], s[i+1:]
	if len(sev) != 1 || sev[0] < '1' || sev[0] > '5' {
		return "", 0, false
	}
	for _, n := range corruptionNames {
		if n == c {
			return c, int(sev[0] - '0'), true
		}
	}
	return "", 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// SplitPair returns the two architectures of "small+large".
func SplitPair(p string) (small, large string, ok bool) {
	small, large, ok = strings.Cut(p, "+")
	return strings.TrimSpace(small), strings.TrimSpace(large), ok && small != "" && large != ""
}

// SplitObjective returns each peer's objective: "simclr" is both peers,
// "simclr+simsiam" gives the small peer SimCLR and the large SimSiam.
func SplitObjective(o string) (small, large string) {
	if a, b, ok := strings.Cut(o, "+"); ok {
		return a, b
	}
	return o, o
}
