//go:build xla

package runner

import _ "github.com/gomlx/go-xla/compute/xla" // registers "xla" (PJRT plugins, e.g. CUDA)

const xlaBuilt = true
