package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kbus-dev/kbus/schemas"
)

func newSchemasCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "Work with the catalog of event schemas",
	}
	cmd.AddCommand(newSchemasCheckCmd(a))
	return cmd
}

// schemaCheck is the JSON output of `kbus schemas check`.
type schemaCheck struct {
	Mode     string              `json:"mode"`
	Types    map[string][]string `json:"types"`
	Problems []schemaProblem     `json:"problems"`
}

type schemaProblem struct {
	Type    string `json:"type"`
	Reader  string `json:"reader"`
	Writer  string `json:"writer"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func newSchemasCheckCmd(a *app) *cobra.Command {
	var mode, dir string
	cmd := &cobra.Command{
		Use:   "check [--mode backward|forward|full] [--dir CATALOG]",
		Short: "Check that consecutive versions of every event type are compatible",
		Long: `Check every consecutive pair of versions of every event type in a catalog (the one built into kbus,
or --dir, laid out as <type>/<major>.<minor>.avsc) under a compatibility mode:

  backward  each version can read data written with the previous one (the default: upgrade consumers first)
  forward   each previous version can read data written with the next one (upgrade producers first)
  full      both

It exits non-zero, naming the type, the versions and the field at fault, when a pair is incompatible.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := schemas.ParseMode(mode)
			if err != nil {
				return err
			}
			reg, err := loadCatalog(dir)
			if err != nil {
				return err
			}
			res := schemaCheck{Mode: m.String(), Types: map[string][]string{}, Problems: []schemaProblem{}}
			for _, t := range reg.Types() {
				res.Types[t] = reg.Versions(t)
			}
			for _, p := range reg.Check(m) {
				res.Problems = append(res.Problems, schemaProblem{p.Type, p.Reader, p.Writer, p.Field, p.Message})
			}
			if a.json() {
				if err := a.printJSON(res); err != nil {
					return err
				}
			} else {
				rows := [][]string{}
				for _, t := range reg.Types() {
					rows = append(rows, []string{t, strings.Join(res.Types[t], ", ")})
				}
				if err := a.table([]string{"TYPE", "VERSIONS"}, rows); err != nil {
					return err
				}
				for _, p := range res.Problems {
					fmt.Fprintf(a.out, "incompatible (%s): %s %s reading %s: field %q: %s\n", res.Mode, p.Type, p.Reader, p.Writer, p.Field, p.Message)
				}
				if len(res.Problems) == 0 {
					fmt.Fprintf(a.out, "compatible (%s): every consecutive pair of versions\n", res.Mode)
				}
			}
			if len(res.Problems) > 0 {
				p := res.Problems[0]
				return fmt.Errorf("%d incompatible version pair(s) under %s, first: %s %s reading %s, field %q",
					len(res.Problems), res.Mode, p.Type, p.Reader, p.Writer, p.Field)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "backward", "backward, forward or full")
	cmd.Flags().StringVar(&dir, "dir", "", "a catalog directory instead of the built-in one")
	return cmd
}

// loadCatalog loads the schema catalog in dir, or kbus's shipped catalog
// when dir is empty.
func loadCatalog(dir string) (*schemas.Registry, error) {
	if dir == "" {
		return schemas.Default()
	}
	reg, err := schemas.Load(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("schema catalog %s: %w", dir, err)
	}
	return reg, nil
}
