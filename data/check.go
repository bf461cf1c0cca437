package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Check verifies, before any job starts, that a data set is where Load will
// look and is not damaged: the IDX files are read and checked whole, the
// binary formats by size (a truncated file is never a multiple of its record),
// Tiny-ImageNet by its folder structure. The error says which files were
// expected, where they were looked for, what was wrong and how to get them.
// With a cache folder, an IDX file is checked as a load reads it: its cached
// copy, when the copy has the CRC-32 and size of the .gz file's trailer, else
// the file decompressed (which leaves a copy for the jobs unless the cache is
// read-only).
func (src Source) Check(name string) error {
	dir := src.Dir
	info, ok := Known()[name]
	if !ok {
		return fmt.Errorf("unknown data set %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	d, err := Folder(name, dir)
	if err != nil {
		var m *MissingError
		if errors.As(err, &m) {
			m.Problem = "no folder with its files (" + strings.Join(info.Files, ", ") + ") found"
		}
		return err
	}
	if err := checkFolder(info, d, src); err != nil {
		return &MissingError{Dataset: name, Looked: []string{d}, Problem: err.Error(), Install: info.Install}
	}
	return nil
}

func checkFolder(info Info, d string, src Source) error {
	switch info.Name {
	case "fashion-mnist", "mnist":
		for _, split := range []string{"train", "test"} {
			if _, err := loadIDX(info, d, split, src); err != nil {
				return err
			}
		}
	case "cifar10", "cifar100":
		rec := 3073
		if info.Name == "cifar100" {
			rec = 3074
		}
		for _, f := range info.Files {
			if err := sizeMultiple(filepath.Join(d, f), rec); err != nil {
				return err
			}
		}
	case "stl10":
		const px = 96 * 96 * 3
		for _, split := range []string{"train", "test"} {
			xs, err := os.Stat(filepath.Join(d, split+"_X.bin"))
			if err != nil {
				return fmt.Errorf("missing file %s_X.bin", split)
			}
			if xs.Size() == 0 || xs.Size()%px != 0 {
				return fmt.Errorf("%s_X.bin: size %d is not a multiple of %d (truncated or damaged)", split, xs.Size(), px)
			}
			ys, err := os.Stat(filepath.Join(d, split+"_y.bin"))
			if err != nil {
				return fmt.Errorf("missing file %s_y.bin", split)
			}
			if ys.Size() != xs.Size()/px {
				return fmt.Errorf("%s_y.bin has %d labels for %d images", split, ys.Size(), xs.Size()/px)
			}
		}
		if err := sizeMultiple(filepath.Join(d, "unlabeled_X.bin"), px); err != nil {
			return err
		}
	case "tiny-imagenet":
		wn, err := os.ReadFile(filepath.Join(d, "wnids.txt"))
		if err != nil {
			return fmt.Errorf("missing file wnids.txt")
		}
		wnids := strings.Fields(string(wn))
		if len(wnids) != info.Classes {
			return fmt.Errorf("wnids.txt lists %d classes, want %d", len(wnids), info.Classes)
		}
		for _, w := range wnids {
			if m, _ := filepath.Glob(filepath.Join(d, "train", w, "images", "*.JPEG")); len(m) == 0 {
				return fmt.Errorf("train/%s/images has no .JPEG files", w)
			}
		}
		if _, err := os.Stat(filepath.Join(d, "val", "val_annotations.txt")); err != nil {
			return fmt.Errorf("missing file val/val_annotations.txt")
		}
	}
	return nil
}

func sizeMultiple(path string, rec int) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("missing file %s", filepath.Base(path))
	}
	if st.Size() == 0 || st.Size()%int64(rec) != 0 {
		return fmt.Errorf("%s: size %d is not a multiple of the %d-byte record (truncated or damaged)", filepath.Base(path), st.Size(), rec)
	}
	return nil
}
