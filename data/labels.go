package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// AsymmetricMap returns the class map of asymmetric noise for a data set:
// a label of class k flips to map[k] (k absent: never flips).
//
// CIFAR-10: truck->automobile, bird->airplane, deer->horse, cat<->dog.
// Fashion-MNIST (this project's map, between look-alike classes):
// T-shirt/top<->Shirt, Pullover->Coat, Coat->Pullover, Sandal->Sneaker, Sneaker->Ankle boot, Ankle boot->Sneaker.
// MNIST: 7->1, 2->7, 5<->6, 3->8.
func AsymmetricMap(dataset string) (map[int32]int32, error) {
	switch dataset {
	case "cifar10":
		return map[int32]int32{9: 1, 2: 0, 4: 7, 3: 5, 5: 3}, nil
	case "fashion-mnist":
		return map[int32]int32{0: 6, 6: 0, 2: 4, 4: 2, 5: 7, 7: 9, 9: 7}, nil
	case "mnist":
		return map[int32]int32{7: 1, 2: 7, 5: 6, 6: 5, 3: 8}, nil
	}
	return nil, fmt.Errorf("no asymmetric noise map for %s (defined for cifar10, fashion-mnist, mnist)", dataset)
}

// Noisy returns a copy of labels with exactly round(rate * n_eligible) labels
// flipped, deterministic per seed. Symmetric noise flips to a class drawn
// uniformly from the other classes; asymmetric noise flips along the data
// set's class map, among the labels whose class has a target. It returns the
// realized rate over all labels.
func Noisy(labels []int32, classes int, rate float64, kind, dataset string, seed uint64) ([]int32, float64, error) {
	out := append([]int32(nil), labels...)
	if rate == 0 {
		return out, 0, nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x0015e))
	var eligible []int
	var amap map[int32]int32
	switch kind {
	case "symmetric":
		eligible = make([]int, len(labels))
		for i := range eligible {
			eligible[i] = i
		}
	case "asymmetric":
		m, err := AsymmetricMap(dataset)
		if err != nil {
			return nil, 0, err
		}
		amap = m
		for i, l := range labels {
			if _, ok := m[l]; ok {
				eligible = append(eligible, i)
			}
		}
	default:
		return nil, 0, fmt.Errorf("unknown noise kind %q", kind)
	}
	n := int(math.Round(rate * float64(len(eligible))))
	rng.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })
	flipped := 0
	for _, i := range eligible[:n] {
		if amap != nil {
			out[i] = amap[labels[i]]
		} else {
			c := int32(rng.IntN(classes - 1))
			if c >= labels[i] {
				c++
			}
			out[i] = c
		}
		if out[i] != labels[i] {
			flipped++
		}
	}
	return out, float64(flipped) / float64(len(labels)), nil
}

// Fraction returns the indices of a class-balanced subset holding fraction of
// each class (at least one per class), deterministic per seed and nested: the
// subset for a smaller fraction is inside the subset for a larger one.
func Fraction(labels []int32, classes int, fraction float64, seed uint64) []int {
	byClass := make([][]int, classes)
	for i, l := range labels {
		if l >= 0 && int(l) < classes {
			byClass[l] = append(byClass[l], i)
		}
	}
	var out []int
	for c, idx := range byClass {
		if len(idx) == 0 {
			continue
		}
		// One fixed order per class and seed; a fraction takes its prefix.
		rng := rand.New(rand.NewPCG(seed, uint64(c)+0xf4ac))
		order := append([]int(nil), idx...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		k := max(1, int(math.Round(fraction*float64(len(order)))))
		out = append(out, order[:min(k, len(order))]...)
	}
	sort.Ints(out)
	return out
}
