// Package layers holds the test that keeps the package graph in its layers:
// the job vocabulary and the data loaders at the bottom import nothing of
// this project's; results, metrics, reports, probe and runner never import
// the controller, the workspace, the executors or the grid parser; only
// runner (and the command that wires it) imports GoMLX.
package layers
