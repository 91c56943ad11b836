package main

import (
	"fmt"
	"os"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/mapping"
)

// mappingDir is the configured mapping directory, or "" (the copies built
// into the binary) when the default directory is absent.
func mappingDir(cfg *config.Config) string {
	if st, err := os.Stat(cfg.MappingDir); err == nil && st.IsDir() {
		return cfg.MappingDir
	}
	if cfg.MappingDir == config.Defaults().MappingDir {
		return ""
	}
	return cfg.MappingDir
}

// checkMappings validates every mapping file and that each enabled connector has one.
func checkMappings(cfg *config.Config) error {
	dir := mappingDir(cfg)
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("mapping_dir %s: %v (set mapping_dir or PAYSYNC_MAPPING_DIR to the folder holding <connector>.yaml)", dir, err)
		}
	}
	if _, err := mapping.LoadDir(dir, nil); err != nil {
		return err
	}
	if conns := connectors.WithMapping(cfg.EnabledConnectors()); len(conns) > 0 {
		if _, err := mapping.LoadDir(dir, conns); err != nil {
			return err
		}
	}
	return nil
}
