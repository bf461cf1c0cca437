package probe

import (
	"context"
	"math"
	"sort"

	"github.com/dogo-sweep/dogo-sweep/internal/matmul"
)

// knnBlock is how many test rows are compared with the training set at once.
const knnBlock = 256

// KNN is the weighted k-nearest-neighbour accuracy on the test split: cosine
// similarity to every training sample, the k nearest vote with weight
// exp(sim / temperature) (as in Wu et al. 2018, InstDisc). Similarities are
// computed a block of test rows at a time as one matrix product; cancelling
// ctx stops it at the next block, with ctx's error. mm multiplies.
func KNN(ctx context.Context, mm matmul.Kernels, f *Features, k int, temperature float64) (float64, error) {
	train := normalizedRows(f.Train, f.Dim)
	test := normalizedRows(f.Test, f.Dim)
	nTrain, nTest := len(f.TrainLabels), len(f.TestLabels)
	k = min(k, nTrain)
	sims := make([]float32, knnBlock*nTrain)
	topS := make([]float32, 0, k)
	topI := make([]int, 0, k)
	votes := make([]float64, f.Classes)
	ok := 0
	for b0 := 0; b0 < nTest; b0 += knnBlock {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rows := min(knnBlock, nTest-b0)
		// sims[rows x nTrain] = test[b0:b0+rows] * train^T
		mm.ABt(sims, test[b0*f.Dim:(b0+rows)*f.Dim], train, rows, nTrain, f.Dim)
		for r := 0; r < rows; r++ {
			row := sims[r*nTrain : (r+1)*nTrain]
			topS, topI = topS[:0], topI[:0]
			for j, s := range row {
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
			if int32(best) == f.TestLabels[b0+r] {
				ok++
			}
		}
	}
	return float64(ok) / float64(nTest), nil
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
