package storage_test

import (
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage/storagetest"
	"github.com/paysync/paysync/storage/testdb"
)

func TestConformance(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		storagetest.Run(t, func(t *testing.T, hook func(string) error) core.Store {
			o := testdb.Options(t, dialect)
			o.FaultHook = hook
			return testdb.OpenWith(t, o)
		})
	})
}
