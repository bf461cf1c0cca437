package job

import "strings"

// Code names a piece of code whose output a job's ID covers: each kind of
// job, and each kind of reference encoder's features.
type Code string

// The codes. A features job's code depends on its encoder: a trained one
// (CodeFeatures), a randomly initialised one (CodeRandom), or raw pixels
// (CodePixels).
const (
	CodePretrain Code = "pretrain"
	CodeFeatures Code = "features"
	CodeRandom   Code = "features-random"
	CodePixels   Code = "features-pixels"
	CodeLinear   Code = "linear"
	CodeFraction Code = "fraction"
	CodeNoise    Code = "noise"
	CodeKNN      Code = "knn"
)

// Revisions names, for each code, what it computes beyond its settings.
// A job's revision is part of its spec, hence of its ID and of the IDs of
// every job downstream: bump a code's revision when a change alters what it
// produces, so that results of the old code are never handed back as the
// new code's. A change that leaves every output as it was (a refactor, a
// speed-up) keeps the revision, and everything stored is reused. The test
// TestRevisions (package worker) runs a tiny job of each code and compares
// its output with a fingerprint kept under worker/testdata: it fails, and
// names the revision to bump, when the output changes and the revision
// does not.
//
// History of pretrain: "" the first release; "2" views made in the
// training graph; "3" the Go backend's CNN step reordered for speed (same
// function, other rounding); "4" the views' noise made of random bytes
// drawn on the host (same distribution to within 2e-5 of its variance,
// other random numbers). The other codes got their first revision "1"
// when revisions covered every code (their IDs changed then).
var Revisions = map[Code]string{
	CodePretrain: "4",
	CodeFeatures: "1",
	CodeRandom:   "1",
	CodePixels:   "1",
	CodeLinear:   "1",
	CodeFraction: "1",
	CodeNoise:    "1",
	CodeKNN:      "1",
}

// CodeOf is the code that computes a job's output.
func CodeOf(s Spec) Code {
	if s.Kind == KindFeatures {
		switch s.Method {
		case MethodRandom:
			return CodeRandom
		case MethodPixels:
			return CodePixels
		}
		return CodeFeatures
	}
	return Code(s.Kind)
}

// RevisionOf is the revision of the code that computes a job's output.
func RevisionOf(s Spec) string { return Revisions[CodeOf(s)] }

// RevisionsText lists every code's revision ("features 1, knn 1, ..."),
// for plans and reports.
func RevisionsText(r map[Code]string) string {
	var parts []string
	for _, c := range []Code{CodePretrain, CodeFeatures, CodeRandom, CodePixels, CodeLinear, CodeFraction, CodeNoise, CodeKNN} {
		parts = append(parts, string(c)+" "+orNone(r[c]))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
