//go:build !xla

package runner

const xlaBuilt = false
