package sweep

// Version is the project's version, recorded with every result.
var Version = "0.1.0-dev"
