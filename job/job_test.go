package job

import (
	"strings"
	"testing"
)

func TestLookupArch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ok       bool
		features int
		summary  string
	}{
		{"mlp-s", true, 128, "MLP 784-256-128"},
		{"cnn-s", true, 64, "16/32/64 channels"},
		{"cnn-l", true, 128, "32/64/128 channels"},
		{"resnet18", true, 512, "blocks 2/2/2/2"},
		{"resnet50", true, 2048, "blocks 3/4/6/3"},
		{"wrn-28-2", true, 128, "Wide ResNet"},
		{"wrn-16-8", true, 512, "Wide ResNet"},
		{"wrn-15-2", false, 0, ""},
		{"wrn-4-1", false, 0, ""},
		{"wrn-16-2x", false, 0, ""},
		{"wrn-x", false, 0, ""},
		{"resnet81", false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := LookupArch(tc.name)
			if ok != tc.ok {
				t.Fatalf("LookupArch(%q) ok = %v", tc.name, ok)
			}
			if !ok {
				return
			}
			if a.Features() != tc.features || !strings.Contains(a.Summary(), tc.summary) {
				t.Errorf("features %d, summary %q; want %d, %q", a.Features(), a.Summary(), tc.features, tc.summary)
			}
		})
	}
	for _, n := range ArchNames() {
		if _, ok := LookupArch(n); !ok {
			t.Errorf("listed architecture %s does not look up", n)
		}
	}
}

func TestParseOOD(t *testing.T) {
	for s, want := range map[string]bool{"gaussian_noise-3": true, "contrast-5": true, "contrast-6": false, "fog-3": false, "contrast": false} {
		if _, _, ok := ParseOOD(s); ok != want {
			t.Errorf("ParseOOD(%q) = %v", s, ok)
		}
	}
	if set, ok := OODSet(OODSplit("pixelate-2")); !ok || set != "pixelate-2" {
		t.Errorf("OOD split round trip: %q %v", set, ok)
	}
}
