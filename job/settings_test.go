package job

import "testing"

func TestViewsString(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		v    *Views
		want string
	}{
		{nil, ""},
		{&Views{}, ""},
		{&Views{Noise: f(0)}, "noise 0"},
		{&Views{MinScale: f(0.5), Noise: f(0.2), Jitter: f(0.4)}, "crop scale >= 0.5, noise 0.2, jitter 0.4"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.v, got, tc.want)
		}
	}
}
