package main

import (
	"fmt"
	"io"

	"github.com/alertmedic/alertmedic/rules"
)

func schemaCmd(c *commandLine, stdout io.Writer) error {
	if err := noArgs("schema", c.extra); err != nil {
		return err
	}
	if _, err := stdout.Write(rules.Schema()); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	return nil
}
