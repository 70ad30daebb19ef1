package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/archive"
	"github.com/mnemohq/mnemo/internal/registrytest"
)

// TestHostileArchives: an archive that is not what a backup writes (a
// name that points elsewhere, a member too large, another format, lines
// that break the rules, a truncated one) is refused by Verify and by Read
// with an error that says what is wrong; one refused before its registry
// is loaded leaves the target empty.
func TestHostileArchives(t *testing.T) {
	src := newBackend(t)
	src.fill(t)
	raw, _ := backup(t, archive.Backuper{Registry: src.reg, Stores: src.stores})
	valid := readMembers(t, raw)
	index := func(ms []member, name string) int {
		i := slices.IndexFunc(ms, func(m member) bool { return m.h.Name == name })
		if i < 0 {
			t.Fatalf("no member %s", name)
		}
		return i
	}
	// edit returns a copy of the valid members changed by fn.
	edit := func(fn func(ms []member) []member) func() []byte {
		return func() []byte {
			ms := make([]member, len(valid))
			for i, m := range valid {
				ms[i] = member{m.h, slices.Clone(m.body)}
			}
			return pack(t, fn(ms))
		}
	}
	rename := func(from, to string) func() []byte {
		return edit(func(ms []member) []member { ms[index(ms, from)].h.Name = to; return ms })
	}
	body := func(name string, fn func(b []byte) []byte) func() []byte {
		return edit(func(ms []member) []member { i := index(ms, name); ms[i].body = fn(ms[i].body); return ms })
	}
	lines := func(name string, fn func(ls []string) []string) func() []byte {
		return body(name, func(b []byte) []byte {
			return []byte(strings.Join(fn(strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")), "\n") + "\n")
		})
	}
	cases := []struct {
		name, want string
		archive    func() []byte
		early      bool // refused before the registry is loaded
	}{
		{"not gzip", "not a gzip archive", func() []byte { return []byte("PK\x03\x04 a zip file") }, true},
		{"truncated gzip", "truncated?", func() []byte { return raw[:len(raw)*3/4] }, false},
		{"manifest not first", "does not start with manifest.json", edit(func(ms []member) []member { ms[0], ms[1] = ms[1], ms[0]; return ms }), true},
		{"physical backup's format", `manifest format is "mnemo-backup"`, body("manifest.json", func([]byte) []byte {
			return []byte(`{"format":"mnemo-backup","version":1,"created_at":"2025-01-01T00:00:00+00:00"}`)
		}), true},
		{"newer version", "version 2 is not supported", body("manifest.json", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"version":1`), []byte(`"version":2`), 1)
		}), true},
		{"oversized manifest", "manifest.json is too large", body("manifest.json", func(b []byte) []byte {
			return append(b, bytes.Repeat([]byte(" "), 1<<20)...)
		}), true},
		{"unknown manifest field", `unknown field "extra"`, body("manifest.json", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{`), []byte(`{"extra":1,`), 1)
		}), true},
		{"path traversal", `unexpected archive member "tenants/../../gamma.ndjson"`, rename("tenants/gamma.ndjson", "tenants/../../gamma.ndjson"), false},
		{"absolute path", `unexpected archive member "/etc/cron.d/gamma"`, rename("tenants/gamma.ndjson", "/etc/cron.d/gamma"), false},
		{"nested path", `unexpected archive member "tenants/gamma/memories.ndjson"`, rename("tenants/gamma.ndjson", "tenants/gamma/memories.ndjson"), false},
		{"invalid tenant id", `unexpected archive member "tenants/Gamma.ndjson"`, rename("tenants/gamma.ndjson", "tenants/Gamma.ndjson"), false},
		{"registry renamed", `archive member "./registry.ndjson" where registry.ndjson must come`, rename("registry.ndjson", "./registry.ndjson"), true},
		{"symlink", `"tenants/evil.ndjson" is not a regular file`, edit(func(ms []member) []member {
			link := member{tar.Header{Typeflag: tar.TypeSymlink, Name: "tenants/evil.ndjson", Linkname: "/etc/passwd", Mode: 0o777}, nil}
			return slices.Insert(ms, 2, link)
		}), false},
		{"tenant not in the registry", `of tenant "zeta", which the archived registry does not have`, rename("tenants/gamma.ndjson", "tenants/zeta.ndjson"), false},
		{"tenant twice", "tenants/acme.ndjson comes twice", edit(func(ms []member) []member {
			i := index(ms, "tenants/acme.ndjson")
			return slices.Insert(ms, i, ms[i])
		}), false},
		{"another tenant's export", `the export is of tenant "acme", not "gamma"`, edit(func(ms []member) []member {
			ms[index(ms, "tenants/gamma.ndjson")].body = ms[index(ms, "tenants/acme.ndjson")].body
			return ms
		}), false},
		{"registry line too long", "line 2: the line is longer than 1048576 bytes", lines("registry.ndjson", func(ls []string) []string {
			return slices.Insert(ls, 1, `{"kind":"incarnation","tenant_id":"`+strings.Repeat("a", 2<<20)+`"}`)
		}), true},
		{"export line too long", "line 2: the line is longer than", lines("tenants/gamma.ndjson", func(ls []string) []string {
			ls[1] = strings.Replace(ls[1], `"content":"`, `"content":"`+strings.Repeat("x", 4<<20), 1)
			return ls
		}), false},
		{"content beyond the limits", "'content' exceeds the maximum length of 2000 characters", lines("tenants/gamma.ndjson", func(ls []string) []string {
			ls[1] = strings.Replace(ls[1], `"content":"`, `"content":"`+strings.Repeat("x", 3000), 1)
			return ls
		}), false},
		{"key before its tenant", "which no earlier tenant record has", lines("registry.ndjson", func(ls []string) []string {
			k := slices.IndexFunc(ls, func(l string) bool { return strings.HasPrefix(l, `{"kind":"key"`) })
			key := ls[k]
			return slices.Insert(slices.Delete(ls, k, k+1), 0, key)
		}), true},
		{"unknown record field", `unknown field "password"`, lines("registry.ndjson", func(ls []string) []string {
			k := slices.IndexFunc(ls, func(l string) bool { return strings.HasPrefix(l, `{"kind":"key"`) })
			ls[k] = strings.Replace(ls[k], `{"kind":"key",`, `{"kind":"key","password":"hunter2",`, 1)
			return ls
		}), true},
		{"token instead of hash", "'token_sha256' is not hex", lines("registry.ndjson", func(ls []string) []string {
			k := slices.IndexFunc(ls, func(l string) bool { return strings.HasPrefix(l, `{"kind":"key"`) })
			i := strings.Index(ls[k], `"token_sha256":"`) + len(`"token_sha256":"`)
			ls[k] = ls[k][:i] + "token-of-acme-0123456789" + ls[k][i+64:]
			return ls
		}), true},
		{"no end.json (truncated)", "the archive has no end.json", edit(func(ms []member) []member { return ms[:len(ms)-1] }), false},
		{"member after end.json", `archive member "tenants/zeta.ndjson" after end.json`, edit(func(ms []member) []member {
			return append(ms, member{tar.Header{Typeflag: tar.TypeReg, Name: "tenants/zeta.ndjson", Mode: 0o600}, []byte("{}")})
		}), false},
		{"a tenant's data left out", "end.json counts 3 tenants, the archive holds 2", edit(func(ms []member) []member {
			return slices.Delete(ms, index(ms, "tenants/gamma.ndjson"), index(ms, "tenants/gamma.ndjson")+1)
		}), false},
		{"a tenant unaccounted for", `the registry has tenant "gamma", but the archive has neither`, edit(func(ms []member) []member {
			ms[len(ms)-1].body = bytes.Replace(ms[len(ms)-1].body, []byte(`"tenants":3`), []byte(`"tenants":2`), 1)
			return slices.Delete(ms, index(ms, "tenants/gamma.ndjson"), index(ms, "tenants/gamma.ndjson")+1)
		}), false},
		{"relation to a memory of no file", "relation end 99999999-9999-4999-8999-999999999999 is not a memory of the tenant", lines("tenants/acme.ndjson", func(ls []string) []string {
			r := len(ls) - 1
			ls[r] = strings.Replace(ls[r], "22222222-2222-4222-8222-222222222222", "99999999-9999-4999-8999-999999999999", 1)
			return ls
		}), false},
		{"memory repeated", "repeats an earlier memory", lines("tenants/gamma.ndjson", func(ls []string) []string {
			ls[0] = strings.Replace(ls[0], `"memories":1`, `"memories":2`, 1)
			return append(ls, ls[1])
		}), false},
	}
	ctx := context.Background()
	if _, err := archive.Verify(ctx, bytes.NewReader(pack(t, valid)), mnemo.Limits{}); err != nil {
		t.Fatalf("the valid archive, repacked: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := c.archive()
			_, err := archive.Verify(ctx, bytes.NewReader(bad), mnemo.Limits{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify: %v, want an error containing %q", err, c.want)
			}
			t.Logf("refused: %v", err)
			dst := newBackend(t)
			_, rerr := archive.Read(ctx, bytes.NewReader(bad), dst.reg, dst.stores, mnemo.Limits{})
			if rerr == nil || rerr.Error() != err.Error() {
				t.Fatalf("Read: %v, want Verify's error %v", rerr, err)
			}
			if c.early {
				if recs := registrytest.Records(t, dst.reg); len(recs) != 0 {
					t.Fatalf("a refused archive loaded %d registry records", len(recs))
				}
			}
		})
	}
}
