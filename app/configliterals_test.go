package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// notFromTheFile are the component configuration types app builds itself, with why that is not a hand copy of
// the file's keys. Every other component configuration comes from the component's FromConfig, which a case of
// coverageCases converts, so TestEveryComponentFieldHasAYAMLKey sees its fields.
var notFromTheFile = map[string]string{
	"live.Config":        "Options.LivePingInterval",
	"audit.Config":       "the audit log's defaults (no settings)",
	"camerasim.Config":   "the demo's simulated cameras",
	"sim.SensorsConfig":  "the demo's simulated sensors",
	"media.CameraConfig": "Options.Cameras (the demo's, id and site); configured cameras go through media.CameraFromConfig",
	"analyze.CameraConfig": "Options.Cameras (the demo's, id and site); configured cameras go through " +
		"analyze.CameraFromConfig",
	"cameras.CameraConfig": "Options.Cameras (the demo's); configured cameras go through cameras.CameraFromConfig",
	"cameras.Config":       "the camera list (each from cameras.CameraFromConfig); its other fields have no key",
	"analyze.Config":       "the camera list (each from analyze.CameraFromConfig); its other fields have no key",
}

// TestAppHandCopiesNoConfiguration: a component configuration app builds field by field from the file is a
// hand copy the coverage test cannot see (alerts.Config, dashboards.Config, retention.Config and the device
// store's were, until issue 13's audit). It reads app's source and fails on a composite literal of a citywatch
// component's *Config type that notFromTheFile does not list.
func TestAppHandCopiesNoConfiguration(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		imports := componentImports(f)
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := lit.Type.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok || !imports[pkg.Name] || !strings.HasSuffix(sel.Sel.Name, "Config") {
				return true
			}
			typ := pkg.Name + "." + sel.Sel.Name
			used[typ] = true
			if notFromTheFile[typ] == "" {
				t.Errorf("%s: app builds %s by hand; convert it in the component (a FromConfig with a case in "+
					"coverageCases), or list it in notFromTheFile with where its values come from", fset.Position(lit.Pos()), typ)
			}
			return true
		})
	}
	for typ := range notFromTheFile {
		if !used[typ] {
			t.Errorf("notFromTheFile lists %s, which app no longer builds: remove it", typ)
		}
	}
}

// componentImports are the names under which f imports citywatch packages other than config.
func componentImports(f *ast.File) map[string]bool {
	out := map[string]bool{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if !strings.HasPrefix(path, "citywatch/") || path == "citywatch/config" {
			continue
		}
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		out[name] = true
	}
	return out
}

// TestEveryFromConfigHasACoverageCase: a component's FromConfig converts keys into its configuration; without
// a case in coverageCases nobody checks that every field is reached (notify.ReceiverFromConfig had none). It
// reads the module's source for exported functions named *FromConfig and fails on a result type no case
// converts.
func TestEveryFromConfigHasACoverageCase(t *testing.T) {
	names := caseNames()
	fset := token.NewFileSet()
	found := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != "..":
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || !strings.HasSuffix(fn.Name.Name, "FromConfig") ||
				fn.Type.Results == nil {
				continue
			}
			found++
			typ := f.Name.Name + "." + types.ExprString(fn.Type.Results.List[0].Type)
			if !names[typ] {
				t.Errorf("%s: %s returns %s, which no case of coverageCases converts: add one", fset.Position(fn.Pos()),
					fn.Name.Name, typ)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < len(coverageCases)/2 {
		t.Fatalf("found %d FromConfig functions: the walk missed the tree", found)
	}
}
