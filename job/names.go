package job

import "strings"

// Objectives are the self-supervised losses a peer may train with.
var Objectives = []string{"simclr", "simsiam"}

// NoiseKinds are the kinds of label noise.
var NoiseKinds = []string{"symmetric", "asymmetric"}

// Corruptions are the out-of-distribution corruptions of a test set.
var Corruptions = []string{"gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "contrast", "brightness", "pixelate"}

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
	for _, n := range Corruptions {
		if n == c {
			return c, int(sev[0] - '0'), true
		}
	}
	return "", 0, false
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
