// Command extract reads Alertmanager's matcher test tables (Go source) with go/ast and
// prints them as JSON rows: every string is decoded by strconv.Unquote, so the rows hold
// exactly the values the Go tests use.
//
// Regenerate (from a checkout of github.com/prometheus/alertmanager at COMMIT):
//
//	(cd tests/rules/testdata/go/extract && go run main.go ALERTMANAGER_CHECKOUT COMMIT) \
//	  > tests/rules/testdata/alertmanager-matchers.json
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

type matcher struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

var ops = map[string]string{"MatchEqual": "=", "MatchNotEqual": "!=", "MatchRegexp": "=~", "MatchNotRegexp": "!~"}

// target: which test function in which file, and what kind of rows it holds.
type target struct {
	file, fn, kind string
	positional     []string // field names for positional struct literals
}

var targets = []target{
	{"matcher/parse/parse_test.go", "TestMatchers", "utf8_matchers", nil},
	{"matcher/parse/parse_test.go", "TestMatcher", "utf8_matcher", nil},
	{"matcher/compliance/compliance_test.go", "TestCompliance", "compliance", nil},
	{"matcher/compat/parse_test.go", "TestFallbackMatcherParser", "fallback_matcher", nil},
	{"matcher/compat/parse_test.go", "TestFallbackMatchersParser", "fallback_matchers", nil},
	{"pkg/labels/parse_test.go", "TestMatchers", "classic_matchers", nil},
	{"pkg/labels/matcher_test.go", "TestMatcher", "matches", nil},
	{"pkg/labels/matcher_test.go", "TestMatcherString", "string", nil},
	{"api/v2/api_test.go", "TestMatchFilterLabels", "filter_labels", []string{"op", "name", "value", "expected"}},
}

func value(e ast.Expr) any {
	switch v := e.(type) {
	case *ast.BasicLit:
		if v.Kind == token.STRING {
			s, err := strconv.Unquote(v.Value)
			if err != nil {
				panic(err)
			}
			return s
		}
		return v.Value
	case *ast.Ident:
		switch v.Name {
		case "true":
			return true
		case "false":
			return false
		case "nil":
			return nil
		}
		if op, ok := ops[v.Name]; ok {
			return op
		}
		return v.Name
	case *ast.SelectorExpr:
		if op, ok := ops[v.Sel.Name]; ok {
			return op
		}
		panic(fmt.Sprintf("selector %s", v.Sel.Name))
	case *ast.CallExpr:
		name := callName(v)
		switch name {
		case "mustNewMatcher", "NewMatcher":
			args := v.Args
			if len(args) > 0 {
				if id, ok := args[0].(*ast.Ident); ok && id.Name == "t" {
					args = args[1:]
				}
			}
			if len(args) == 2 { // pkg/labels/matcher_test.go: mustNewMatcher(t, op, value), name ""
				return matcher{Op: value(args[0]).(string), Value: value(args[1]).(string)}
			}
			return matcher{Op: value(args[0]).(string), Name: value(args[1]).(string), Value: value(args[2]).(string)}
		case "make":
			return []matcher{}
		}
		if fl, ok := v.Fun.(*ast.FuncLit); ok { // func() []*Matcher { ... NewMatcher ... }()
			found := []matcher{}
			ast.Inspect(fl.Body, func(n ast.Node) bool {
				if c, ok := n.(*ast.CallExpr); ok && callName(c) == "NewMatcher" {
					found = append(found, value(c).(matcher))
					return false
				}
				return true
			})
			return found
		}
		panic(fmt.Sprintf("call %s", name))
	case *ast.CompositeLit: // labels.Matchers{...}
		found := []matcher{}
		for _, el := range v.Elts {
			found = append(found, value(el).(matcher))
		}
		return found
	}
	panic(fmt.Sprintf("unsupported %T", e))
}

func callName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

func main() {
	root, commit := os.Args[1], os.Args[2]
	rows := []map[string]any{}
	fset := token.NewFileSet()
	for _, t := range targets {
		f, err := parser.ParseFile(fset, filepath.Join(root, t.file), nil, 0)
		if err != nil {
			panic(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != t.fn {
				continue
			}
			// The table is the first composite literal of a slice of anonymous structs.
			var table *ast.CompositeLit
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if table != nil {
					return false
				}
				if cl, ok := n.(*ast.CompositeLit); ok {
					if at, ok := cl.Type.(*ast.ArrayType); ok {
						if _, ok := at.Elt.(*ast.StructType); ok {
							table = cl
							return false
						}
					}
				}
				return true
			})
			if table == nil {
				panic("no table in " + t.fn)
			}
			for _, el := range table.Elts {
				cl := el.(*ast.CompositeLit)
				row := map[string]any{"kind": t.kind, "source": fmt.Sprintf("%s:%d %s", t.file, fset.Position(cl.Pos()).Line, t.fn)}
				for i, f := range cl.Elts {
					if kv, ok := f.(*ast.KeyValueExpr); ok {
						row[kv.Key.(*ast.Ident).Name] = value(kv.Value)
					} else {
						row[t.positional[i]] = value(f)
					}
				}
				rows = append(rows, row)
			}
		}
	}
	out := map[string]any{
		"source":    "https://github.com/prometheus/alertmanager",
		"commit":    commit,
		"extracted": "by tests/rules/testdata/go/extract (go/ast, strconv.Unquote) from " + strings.Join(files(), ", "),
		"rows":      rows,
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}

func files() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range targets {
		if !seen[t.file] {
			seen[t.file] = true
			out = append(out, t.file)
		}
	}
	return out
}
