package probe

import (
	"math"
	"sort"
)

// KNN is the weighted k-nearest-neighbour accuracy on the test split: cosine
// similarity to every training sample, the k nearest vote with weight
// exp(sim / temperature) (as in Wu et al. 2018, InstDisc).
func KNN(f *Features, k int, temperature float64) float64 {
	train := normalizedRows(f.Train, f.Dim)
	test := normalizedRows(f.Test, f.Dim)
	nTrain := len(f.TrainLabels)
	k = min(k, nTrain)
	ok := 0
	topS := make([]float32, 0, k)
	topI := make([]int, 0, k)
	votes := make([]float64, f.Classes)
	for i := range f.TestLabels {
		q := test[i*f.Dim : (i+1)*f.Dim]
		topS, topI = topS[:0], topI[:0]
		for j := 0; j < nTrain; j++ {
			r := train[j*f.Dim : (j+1)*f.Dim]
			var s float32
			for t, v := range q {
				s += v * r[t]
			}
			if len(topS) == k && s <= topS[k-1] {
				continue
			}
			// Insert into the descending top-k list.
			p := sort.Search(len(topS), func(a int) bool { return topS[a] < s })
			if len(topS) < k {
				topS, topI = append(topS, 0), append(topI, 0)
			}
			copy(topS[p+1:], topS[p:len(topS)-1])
			copy(topI[p+1:], topI[p:len(topI)-1])
			topS[p], topI[p] = s, j
		}
		clear(votes)
		for n, j := range topI {
			votes[f.TrainLabels[j]] += math.Exp(float64(topS[n]) / temperature)
		}
		best := 0
		for c := range votes {
			if votes[c] > votes[best] {
				best = c
			}
		}
		if int32(best) == f.TestLabels[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(f.TestLabels))
}

func normalizedRows(x []float32, d int) []float32 {
	out := make([]float32, len(x))
	for i := 0; i < len(x); i += d {
		var n float64
		for _, v := range x[i : i+d] {
			n += float64(v) * float64(v)
		}
		inv := float32(1 / math.Max(math.Sqrt(n), 1e-12))
		for j, v := range x[i : i+d] {
			out[i+j] = v * inv
		}
	}
	return out
}
