package testenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestSkipsFailInCI reads every test file of the module (and this package) and requires that each t.Skip,
// t.Skipf or t.SkipNow is one of the skips allowed in CI: under an if on testing.Short() (-short is the
// unit run), under an if on os.Getenv (a child-process guard: the test binary re-executed as a helper), or
// in a function that checks CI first (InCI, os.Getenv("CI")) and fails there instead. Anything else would let
// an integration test pass in CI without running.
func TestSkipsFailInCI(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var bad []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		inTestenv := filepath.Dir(path) == "."
		if !strings.HasSuffix(path, "_test.go") && !(inTestenv && strings.HasSuffix(path, ".go")) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, pos := range disallowedSkips(f) {
			bad = append(bad, fset.Position(pos).String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("%s: a skip that CI would take silently: guard it with testing.Short(), or t.Fatal when InCI() and skip only elsewhere", b)
	}
}

// disallowedSkips returns the positions of the skips in f that no allowed guard covers.
func disallowedSkips(f *ast.File) []token.Pos {
	var out []token.Pos
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, n)
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Skip" && sel.Sel.Name != "Skipf" && sel.Sel.Name != "SkipNow") {
			return true
		}
		if !skipAllowed(stack) {
			out = append(out, call.Pos())
		}
		return true
	})
	return out
}

// skipAllowed reports whether the skip at the top of stack (its ancestors, outermost first) is guarded.
func skipAllowed(stack []ast.Node) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		switch n := stack[i].(type) {
		case *ast.IfStmt:
			if mentions(n.Cond, "Short") || mentions(n.Cond, "Getenv") {
				return true
			}
		case *ast.FuncLit:
			if checksCI(n.Body) {
				return true
			}
		case *ast.FuncDecl:
			return checksCI(n.Body)
		}
	}
	return false
}

// mentions reports whether the expression calls a function or method named name.
func mentions(e ast.Node, name string) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr:
				found = found || fn.Sel.Name == name
			case *ast.Ident:
				found = found || fn.Name == name
			}
		}
		return !found
	})
	return found
}

// checksCI reports whether body asks whether it runs in CI: InCI() or os.Getenv("CI").
func checksCI(body *ast.BlockStmt) bool {
	if body == nil {
		return false
	}
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return !found
		}
		if mentions(&ast.ExprStmt{X: &ast.CallExpr{Fun: call.Fun}}, "InCI") {
			found = true
		}
		if len(call.Args) == 1 && mentions(&ast.ExprStmt{X: &ast.CallExpr{Fun: call.Fun}}, "Getenv") {
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Value == `"CI"` {
				found = true
			}
		}
		return !found
	})
	return found
}
