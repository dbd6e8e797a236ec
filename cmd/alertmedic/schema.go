package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/alertmedic/alertmedic/rules"
)

const schemaUsage = `Usage: alertmedic schema

Prints the JSON Schema (draft-07) of rule files, for editors to validate
and complete them. The same schema is committed as docs/rules.schema.json.
`

func schemaCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, schemaUsage) }
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "schema: unexpected argument %q\n", rest[0])
		return errUsage
	}
	if _, err := stdout.Write(rules.Schema()); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	return nil
}
