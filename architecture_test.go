package mnemo_test

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestArchitectureDocumentsImports holds docs/architecture.md to the code: its
// imports block must list, for every package, exactly the mnemo packages it
// imports (tests aside). A new dependency between packages is a design change,
// so it has to be written down where readers look.
func TestArchitectureDocumentsImports(t *testing.T) {
	const module = "github.com/mnemohq/mnemo"
	documented := documentedImports(t, "docs/architecture.md")

	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	actual := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg := short(module, fields[0])
		if pkg == "e2e" { // tests only: no non-test imports to document
			continue
		}
		deps := []string{}
		for _, imp := range fields[1:] {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				deps = append(deps, short(module, imp))
			}
		}
		slices.Sort(deps)
		actual[pkg] = deps
	}

	for pkg, deps := range actual {
		want, ok := documented[pkg]
		if !ok {
			t.Errorf("package %s (imports %v) is missing from the imports block of docs/architecture.md", pkg, deps)
			continue
		}
		if !slices.Equal(want, deps) {
			t.Errorf("package %s imports %v; docs/architecture.md says %v", pkg, deps, want)
		}
	}
	for pkg := range documented {
		if _, ok := actual[pkg]; !ok {
			t.Errorf("docs/architecture.md lists package %s, which does not exist", pkg)
		}
	}
}

// documentedImports reads the ```imports block: "pkg: dep dep ...", one per line.
func documentedImports(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found, in := false, false
	doc := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```imports":
			found, in = true, true
		case in && line == "```":
			in = false
		case in && line != "":
			pkg, deps, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("%s: imports line %q has no colon", path, line)
			}
			list := strings.Fields(deps)
			slices.Sort(list)
			doc[strings.TrimSpace(pkg)] = list
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s has no ```imports block", path)
	}
	return doc
}

func short(module, path string) string {
	if path == module {
		return "mnemo"
	}
	return strings.TrimPrefix(path, module+"/")
}

// TestSecurityNamesRealTests holds docs/security.md to the code: every test
// it names as the proof of a control exists, so the proof cannot be
// renamed or deleted without the document saying so.
func TestSecurityNamesRealTests(t *testing.T) {
	raw, err := os.ReadFile("docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil {
				defined[fn.Name.Name] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, m := range regexp.MustCompile("\\bTest[A-Z][A-Za-z0-9_]*\\*?").FindAllString(string(raw), -1) {
		if !strings.HasSuffix(m, "*") { // TestAbuse* names a family, not a test
			named = append(named, m)
		}
	}
	if len(named) < 50 {
		t.Fatalf("docs/security.md names %d tests; it should name the proof of each control", len(named))
	}
	for _, name := range named {
		if !defined[name] {
			t.Errorf("docs/security.md names %s, which no test file defines", name)
		}
	}
}
