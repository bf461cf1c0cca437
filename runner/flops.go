package runner

import (
	. "github.com/gomlx/gomlx/core/graph"
)

// A step's FLOPs are those of its matrix products (layers, convolutions,
// the losses' similarity matrices, the views' resampling), counted while
// the graph is built, where each product is made, so the count follows the
// model code. Elementwise work (activations, BatchNorm, the optimizer) is
// not counted: the usual convention of model FLOPs and utilization figures.
//
// A trained layer of [m, k] x [k, n] costs 2mkn forward, and 2mkn more for
// each gradient the step takes: to its weights, and to its input unless that
// input is the views (nothing upstream is trained).

// flopCounter accumulates the FLOPs of the graph it is attached to.
type flopCounter struct {
	total float64
	// viewsInput: the layer being built reads the views.
	viewsInput bool
}

type flopsKey struct{}

// countFLOPs attaches a new counter to g: products built in g from now on
// are counted.
func countFLOPs(g *Graph) *flopCounter {
	c := &flopCounter{}
	g.AttachState(flopsKey{}, c)
	return c
}

// matMulFLOPs records `passes` products of [m, k] x [k, n] (1: forward
// only; 3: forward and the gradients to both operands). No-op in a graph
// without a counter (feature extraction).
func matMulFLOPs(g *Graph, m, k, n, passes int) {
	if c, ok := g.State(flopsKey{}).(*flopCounter); ok {
		c.total += 2 * float64(m) * float64(k) * float64(n) * float64(passes)
	}
}

// layerFLOPs records a trained layer's product [m, k] x [k, n]: forward,
// the gradient to the weights and, unless it reads the views, to its input.
func layerFLOPs(g *Graph, m, k, n int) {
	passes := 3
	if c, ok := g.State(flopsKey{}).(*flopCounter); ok && c.viewsInput {
		passes = 2
	}
	matMulFLOPs(g, m, k, n, passes)
}

// onViews builds a layer; views: the layer reads the views (an encoder's
// first layer), whose gradient the step does not take.
func onViews(g *Graph, views bool, build func() *Node) *Node {
	c, _ := g.State(flopsKey{}).(*flopCounter)
	if c == nil || !views {
		return build()
	}
	c.viewsInput = true
	defer func() { c.viewsInput = false }()
	return build()
}
