// Package layers holds the test that keeps the package graph in its layers:
// the job vocabulary and the data loaders at the bottom import nothing of
// this project's, and the job folder's layout (jobdir) only the vocabulary;
// results, metrics, reports, probe, runner and the job process (worker)
// never import the controller, the workspace, the executors or the grid
// parser; only runner imports GoMLX.
package layers
