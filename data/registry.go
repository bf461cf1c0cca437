// Package data loads the image data sets a sweep trains and evaluates on, from
// their standard on-disk formats, and applies the label manipulations of the
// DoGo experiments: label noise, label fractions and out-of-distribution
// corruptions. It imports only the standard library.
package data

import (
	"maps"
	"slices"
	"strconv"
)

// Info describes a data set: its images, classes and normalization.
type Info struct {
	Name     string
	Height   int
	Width    int
	Channels int
	Classes  int
	// ClassNames in label order.
	ClassNames []string
	// Mean and Std per channel, applied after scaling pixels to [0, 1].
	Mean, Std []float32
	// Splits this data set has on disk.
	Splits []string
	// Install says how to get the files.
	Install string
	// Files lists the expected file names under the data set's folder.
	Files []string
	// CPU is true when the images are small enough for CPU pretraining.
	CPU bool
}

// Pixels is the number of values per image.
func (i Info) Pixels() int { return i.Height * i.Width * i.Channels }

var fashionNames = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
var cifar10Names = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
var stl10Names = []string{"airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"}

func digits() []string {
	n := make([]string, 10)
	for i := range n {
		n[i] = string(rune('0' + i))
	}
	return n
}

func numbered(k int) []string {
	n := make([]string, k)
	for i := range n {
		n[i] = "class-" + strconv.Itoa(i)
	}
	return n
}

// Known returns the data sets this build can load, by name.
func Known() map[string]Info {
	idxFiles := []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
	return map[string]Info{
		"fashion-mnist": {Name: "fashion-mnist", Height: 28, Width: 28, Channels: 1, Classes: 10, ClassNames: fashionNames,
			Mean: []float32{0.2860}, Std: []float32{0.3530}, Splits: []string{"train", "test"}, CPU: true, Files: idxFiles,
			Install: "apt-get install -y dataset-fashion-mnist (installs /usr/share/datasets/fashion-mnist), or download the four IDX files from the Fashion-MNIST project (github.com/zalandoresearch/fashion-mnist, data/fashion) into DATA_DIR/fashion-mnist"},
		"mnist": {Name: "mnist", Height: 28, Width: 28, Channels: 1, Classes: 10, ClassNames: digits(),
			Mean: []float32{0.1307}, Std: []float32{0.3081}, Splits: []string{"train", "test"}, CPU: true, Files: idxFiles,
			Install: "download the four IDX files of MNIST (train-images-idx3-ubyte.gz, ...) into DATA_DIR/mnist"},
		"cifar10": {Name: "cifar10", Height: 32, Width: 32, Channels: 3, Classes: 10, ClassNames: cifar10Names,
			Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.247, 0.243, 0.261}, Splits: []string{"train", "test"},
			Files:   []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"},
			Install: "download cifar-10-binary.tar.gz (www.cs.toronto.edu/~kriz/cifar.html) and extract cifar-10-batches-bin/* into DATA_DIR/cifar10"},
		"cifar100": {Name: "cifar100", Height: 32, Width: 32, Channels: 3, Classes: 100, ClassNames: numbered(100),
			Mean: []float32{0.5071, 0.4865, 0.4409}, Std: []float32{0.2673, 0.2564, 0.2762}, Splits: []string{"train", "test"},
			Files:   []string{"train.bin", "test.bin"},
			Install: "download cifar-100-binary.tar.gz (www.cs.toronto.edu/~kriz/cifar.html) and extract cifar-100-binary/* into DATA_DIR/cifar100"},
		"stl10": {Name: "stl10", Height: 96, Width: 96, Channels: 3, Classes: 10, ClassNames: stl10Names,
			Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}, Splits: []string{"train", "test", "unlabeled"},
			Files:   []string{"train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin", "unlabeled_X.bin"},
			Install: "download stl10_binary.tar.gz (cs.stanford.edu/~acoates/stl10) and extract stl10_binary/* into DATA_DIR/stl10"},
		"tiny-imagenet": {Name: "tiny-imagenet", Height: 64, Width: 64, Channels: 3, Classes: 200, ClassNames: numbered(200),
			Mean: []float32{0.4802, 0.4481, 0.3975}, Std: []float32{0.2302, 0.2265, 0.2262}, Splits: []string{"train", "val"},
			Files:   []string{"wnids.txt", "train/", "val/val_annotations.txt", "val/images/"},
			Install: "download tiny-imagenet-200.zip (cs231n.stanford.edu) and extract tiny-imagenet-200/* into DATA_DIR/tiny-imagenet"},
	}
}

// Names returns the known data set names, sorted.
func Names() []string { return slices.Sorted(maps.Keys(Known())) }
