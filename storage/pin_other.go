//go:build !unix

package storage

import "os"

func dupFile(*os.File) (*os.File, error) { return nil, ErrPinUnsupported }
