package archive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/export"
)

// Target is what a restore writes into: an empty registry, which it
// loads, and updates for what the archive could not hold (a vanished
// tenant is deleted again, a skipped one suspended).
type Target interface {
	mnemo.RegistryArchiver
	mnemo.TenantRegistry
}

// Result says what an archive held and what a restore did with it.
type Result struct {
	Manifest        Manifest
	RegistryRecords int64
	// Tenants are the tenants whose data was restored, with how many
	// memories and relations they hold in all.
	Tenants             int
	Memories, Relations int64
	// Vanished are tenants deleted while the backup ran: they are not
	// restored. Skipped are tenants whose store the backup could not read:
	// their keys, usage and audit are restored, with an empty store, and
	// the tenant is suspended with a reason that says so.
	Vanished []string
	Skipped  []mnemo.DamagedStore
}

// Bounds of what an archive can make a restore hold in memory: the small
// members, and one line of the registry. A line of a tenant's export is
// bounded by the limits (maxExportLine).
const (
	maxSmallMember  = 1 << 20
	maxRegistryLine = 1 << 20
)

// importBatch is how many memories or relations one Import writes.
const importBatch = 500

// Read restores an archive into an empty backend: it loads the registry,
// creates each tenant's store and imports its memories and relations
// with their ids, times and vectors as they are. lim are the input limits
// every memory and relation is checked against, as an import's are.
//
// The archive is checked as it is read: its members must be the ones the
// format names, in its order, each at most once and within its bounds,
// every record and line must pass its rules, and end.json must account
// for every tenant. A check that fails ends the restore with an error
// naming the member and the line, but what was written before stays:
// Verify the archive first when it can be read twice, and restore into a
// backend that can be thrown away (an embedded restore loads into a
// staging directory).
func Read(ctx context.Context, r io.Reader, reg Target, stores mnemo.Stores, lim mnemo.Limits) (Result, error) {
	if reg == nil || stores == nil {
		return Result{}, errors.New("restore: no registry or stores to restore into")
	}
	rd := &reader{reg: reg, stores: stores, lim: lim.OrDefaults()}
	return rd.read(ctx, r)
}

// Verify reads a whole archive and checks it as Read does, writing
// nothing.
func Verify(ctx context.Context, r io.Reader, lim mnemo.Limits) (Result, error) {
	rd := &reader{lim: lim.OrDefaults()}
	return rd.read(ctx, r)
}

// ReadManifest reads the manifest of what may be a logical backup: ok is
// false, with no error, when r is a gzip'd tar whose first member is a
// manifest.json of another format, so a caller can hand the archive to
// the reader of that one.
func ReadManifest(r io.Reader) (man Manifest, ok bool, err error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return man, false, fmt.Errorf("restore: not a gzip archive: %w", err)
	}
	tr := tar.NewReader(gz)
	h, err := tr.Next()
	if err != nil {
		return man, false, fmt.Errorf("restore: reading archive: %w", err)
	}
	if h.Name != manifestName || h.Typeflag != tar.TypeReg || h.Size > maxSmallMember {
		return man, false, fmt.Errorf("restore: the archive does not start with %s: not a mnemo backup", manifestName)
	}
	if err := json.NewDecoder(io.LimitReader(tr, maxSmallMember)).Decode(&man); err != nil {
		return man, false, fmt.Errorf("restore: %s: %w", manifestName, err)
	}
	return man, man.Format == Format, nil
}

// reader is one Read or, without reg and stores, one Verify.
type reader struct {
	reg    Target
	stores mnemo.Stores
	lim    mnemo.Limits
	res    Result

	tenants map[string]*mnemo.Tenant // of the registry
	order   []string
	saved   map[string]bool // tenants whose member was read
}

func (rd *reader) dry() bool { return rd.reg == nil }

func (rd *reader) read(ctx context.Context, r io.Reader) (Result, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return rd.res, fmt.Errorf("restore: not a gzip archive: %w", err)
	}
	tr := tar.NewReader(gz)
	next := func(want string) (*tar.Header, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("restore: the archive ends before its %s (truncated?)", want)
		}
		if err != nil {
			return nil, fmt.Errorf("restore: reading archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("restore: archive member %q is not a regular file: not part of a mnemo logical backup", h.Name)
		}
		return h, nil
	}

	h, err := next(manifestName)
	if err != nil {
		return rd.res, err
	}
	if h.Name != manifestName {
		return rd.res, fmt.Errorf("restore: the archive does not start with %s: not a mnemo backup", manifestName)
	}
	if err := readSmall(h, tr, &rd.res.Manifest); err != nil {
		return rd.res, err
	}
	if m := rd.res.Manifest; m.Format != Format {
		return rd.res, fmt.Errorf("restore: manifest format is %q, want %q", m.Format, Format)
	} else if m.Version != Version {
		return rd.res, fmt.Errorf("restore: logical backup format version %d is not supported (this binary reads version %d)", m.Version, Version)
	}

	if h, err = next(registryName); err != nil {
		return rd.res, err
	}
	if h.Name != registryName {
		return rd.res, fmt.Errorf("restore: archive member %q where %s must come: not a mnemo logical backup", h.Name, registryName)
	}
	if err := rd.registry(ctx, tr); err != nil {
		return rd.res, err
	}

	var end *End
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rd.res, fmt.Errorf("restore: reading archive: %w", err)
		}
		if end != nil {
			return rd.res, fmt.Errorf("restore: archive member %q after %s, which must be last", h.Name, endName)
		}
		if h.Typeflag != tar.TypeReg {
			return rd.res, fmt.Errorf("restore: archive member %q is not a regular file: not part of a mnemo logical backup", h.Name)
		}
		if h.Name == endName {
			end = &End{}
			if err := readSmall(h, tr, end); err != nil {
				return rd.res, err
			}
			continue
		}
		id, ok := tenantMember(h.Name)
		if !ok {
			return rd.res, fmt.Errorf("restore: unexpected archive member %q: not part of a mnemo logical backup", h.Name)
		}
		if rd.tenants[id] == nil {
			return rd.res, fmt.Errorf("restore: archive member %s is of tenant %q, which the archived registry does not have", h.Name, id)
		}
		if rd.saved[id] {
			return rd.res, fmt.Errorf("restore: archive member %s comes twice", h.Name)
		}
		rd.saved[id] = true
		if err := rd.tenant(ctx, id, tr); err != nil {
			return rd.res, fmt.Errorf("restore %s: %w", h.Name, readable(truncated(err)))
		}
		rd.res.Tenants++
	}
	// Reading to the end checks gzip's CRC: a corrupted archive fails here.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return rd.res, fmt.Errorf("restore: reading archive: %w", err)
	}
	if end == nil {
		return rd.res, fmt.Errorf("restore: the archive has no %s (truncated?)", endName)
	}
	if err := rd.finish(ctx, end); err != nil {
		return rd.res, err
	}
	return rd.res, nil
}

// tenantMember returns the tenant id of a member named tenants/<id>.ndjson
// with a valid id. Nothing else is a tenant's member, so no name can point
// elsewhere.
func tenantMember(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, tenantPrefix)
	if !ok {
		return "", false
	}
	if id, ok = strings.CutSuffix(id, tenantSuffix); !ok || mnemo.ValidateTenantID(id) != nil {
		return "", false
	}
	return id, true
}

func readSmall(h *tar.Header, r io.Reader, v any) error {
	if h.Size > maxSmallMember {
		return fmt.Errorf("restore: %s is too large (%d bytes; at most %d)", h.Name, h.Size, maxSmallMember)
	}
	dec := json.NewDecoder(io.LimitReader(r, maxSmallMember))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("restore: %s: %w", h.Name, err)
	}
	return nil
}

// registry reads registry.ndjson, checks every record and, unless dry,
// loads them.
func (rd *reader) registry(ctx context.Context, r io.Reader) error {
	rd.tenants, rd.saved = map[string]*mnemo.Tenant{}, map[string]bool{}
	records, finished := rd.records(r)
	var err error
	if rd.dry() {
		for _, e := range records {
			if e != nil {
				err = e
				break
			}
		}
	} else {
		err = rd.reg.LoadRegistry(ctx, records)
	}
	if err == nil && !finished() {
		err = errors.New("the registry stopped loading before the last record")
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", registryName, readable(truncated(err)))
	}
	return nil
}

// records yields the records of registry.ndjson, checked; finished says
// whether every line was yielded.
func (rd *reader) records(r io.Reader) (iter.Seq2[mnemo.RegistryRecord, error], func() bool) {
	done := false
	seq := func(yield func(mnemo.RegistryRecord, error) bool) {
		var check mnemo.RegistryRecordCheck
		br := bufio.NewReaderSize(r, 64<<10)
		for line := 1; ; line++ {
			raw, err := readLine(br, maxRegistryLine)
			if errors.Is(err, io.EOF) {
				done = true
				return
			}
			fail := func(err error) {
				yield(mnemo.RegistryRecord{}, fmt.Errorf("line %d: %w", line, readable(err)))
			}
			if err != nil {
				fail(err)
				return
			}
			rec, err := decodeRecord(raw)
			if err == nil {
				err = check.Check(rec)
			}
			if err != nil {
				fail(err)
				return
			}
			rd.res.RegistryRecords++
			if rec.Tenant != nil {
				rd.tenants[rec.Tenant.ID] = rec.Tenant
				rd.order = append(rd.order, rec.Tenant.ID)
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
	return seq, func() bool { return done }
}

// readLine reads one line of at most max bytes, without its end; io.EOF
// when none is left.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max+1 {
			return nil, fmt.Errorf("the line is longer than %d bytes", max)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, io.EOF) && len(line) == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			return line, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		}
	}
}

// maxExportLine bounds a line of a tenant's export: the longest memory the
// limits let through, every character escaped, with the largest vector.
func maxExportLine(lim mnemo.Limits) int {
	const maxVector = 8192 * 16 // VECTOR_SIZE's bound, each number with its comma
	return 6*(4*lim.ContentHardLimit+lim.MaxMetadataBytes+lim.MaxTags*(lim.MaxTagBytes+3)+4*lim.MaxTypeLength) + maxVector + 64<<10
}

// tenant reads one tenant's export and, unless dry, imports it into the
// tenant's new store. Memories come first, then relations, whose ends must
// be memories of the file; none may repeat.
func (rd *reader) tenant(ctx context.Context, id string, r io.Reader) (err error) {
	var store mnemo.MemoryStore
	if !rd.dry() {
		if err := rd.stores.Create(ctx, id); err != nil {
			return fmt.Errorf("create the store: %w", err)
		}
		st, release, err := rd.stores.Open(ctx, id)
		if err != nil {
			return fmt.Errorf("open the new store: %w", err)
		}
		defer release()
		store = st
	}
	dec := export.NewDecoder(r, rd.lim, time.Now(), maxExportLine(rd.lim))
	memories := map[string]bool{}
	relations := map[[3]string]bool{}
	var mems []*mnemo.Memory
	var rels []mnemo.Relation
	flush := func() error {
		if store == nil || len(mems)+len(rels) == 0 {
			mems, rels = mems[:0], rels[:0]
			return nil
		}
		created, relsCreated, err := store.Import(ctx, mems, rels, mnemo.Quotas{}) // what the tenant held, over its quota or not
		if err == nil && (len(created) != len(mems) || relsCreated != len(rels)) {
			err = fmt.Errorf("the new store took %d of %d memories and %d of %d relations", len(created), len(mems), relsCreated, len(rels))
		}
		mems, rels = mems[:0], rels[:0]
		return err
	}
	for {
		m, rel, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if dec.SourceTenant() != id {
			return export.LineError(1, "the export is of tenant %q, not %q", dec.SourceTenant(), id)
		}
		if m != nil {
			if len(relations) > 0 {
				return export.LineError(dec.Line(), "a memory after the relations: an archive holds a tenant's memories first")
			}
			if memories[m.ID] {
				return export.LineError(dec.Line(), "'id' %s repeats an earlier memory", m.ID)
			}
			memories[m.ID] = true
			mems = append(mems, m)
			rd.res.Memories++
		} else {
			k := [3]string{rel.From, string(rel.Type), rel.To}
			if relations[k] {
				return export.LineError(dec.Line(), "the relation %s %s %s repeats an earlier one", rel.From, rel.Type, rel.To)
			}
			for _, end := range []string{rel.From, rel.To} {
				if !memories[end] {
					return export.LineError(dec.Line(), "relation end %s is not a memory of the tenant", end)
				}
			}
			if len(relations) == 0 {
				if err := flush(); err != nil {
					return err
				}
			}
			relations[k] = true
			rels = append(rels, *rel)
			rd.res.Relations++
		}
		if len(mems)+len(rels) >= importBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if dec.SourceTenant() != id {
		return export.LineError(1, "the export is of tenant %q, not %q", dec.SourceTenant(), id)
	}
	return flush()
}

// finish checks end.json against what was read and, unless dry, deletes
// the vanished tenants and suspends the skipped ones.
func (rd *reader) finish(ctx context.Context, end *End) error {
	if end.RegistryRecords != rd.res.RegistryRecords {
		return fmt.Errorf("restore: %s counts %d registry records, the archive holds %d", endName, end.RegistryRecords, rd.res.RegistryRecords)
	}
	if end.Tenants != rd.res.Tenants {
		return fmt.Errorf("restore: %s counts %d tenants, the archive holds %d", endName, end.Tenants, rd.res.Tenants)
	}
	accounted := map[string]string{}
	for _, id := range end.Vanished {
		accounted[id] = "vanished"
	}
	for _, d := range end.Skipped {
		if accounted[d.TenantID] != "" {
			return fmt.Errorf("restore: %s names tenant %q twice", endName, d.TenantID)
		}
		accounted[d.TenantID] = "skipped"
	}
	for id, why := range accounted {
		if rd.tenants[id] == nil || rd.saved[id] {
			return fmt.Errorf("restore: %s names tenant %q as %s, but the archive %s", endName, id, why,
				map[bool]string{true: "holds its data", false: "has no such tenant"}[rd.saved[id]])
		}
	}
	for _, id := range rd.order {
		if !rd.saved[id] && accounted[id] == "" {
			return fmt.Errorf("restore: the registry has tenant %q, but the archive has neither %s%s%s nor a word of it in %s (truncated?)",
				id, tenantPrefix, id, tenantSuffix, endName)
		}
	}
	rd.res.Vanished, rd.res.Skipped = slices.Clone(end.Vanished), slices.Clone(end.Skipped)
	if rd.dry() {
		return nil
	}
	for _, id := range end.Vanished {
		// Deleted while the backup ran: deleted again, its incarnation
		// closed, as in the registry the backup was taken of.
		if err := rd.reg.DeleteTenant(ctx, id); err != nil {
			return fmt.Errorf("restore: remove tenant %q, deleted while the backup ran: %w", id, readable(err))
		}
	}
	for _, d := range end.Skipped {
		if err := rd.suspend(ctx, d); err != nil {
			return fmt.Errorf("restore: tenant %q, which the backup skipped: %w", d.TenantID, readable(err))
		}
	}
	return nil
}

// suspend gives a tenant whose data the backup could not read an empty
// store and suspends it, saying why: a client must not write into an
// empty store thinking its memories are there.
func (rd *reader) suspend(ctx context.Context, d mnemo.DamagedStore) error {
	if err := rd.stores.Create(ctx, d.TenantID); err != nil {
		return err
	}
	t := *rd.tenants[d.TenantID]
	was := t.Status
	if t.StatusReason != "" {
		was += ": " + t.StatusReason
	}
	t.Status = mnemo.TenantSuspended
	t.StatusReason = truncate(fmt.Sprintf("restored without its memories: the backup of %s could not read its store (%s); put them back (an older backup, an export), then set the status again (was %s)",
		rd.res.Manifest.CreatedAt, d.Reason, was), 500)
	t.UpdatedAt = time.Now().UTC()
	return rd.reg.UpdateTenant(ctx, &t)
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// truncated says so of an archive that ends inside a member.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the archive ends inside this member (truncated?): %w", err)
	}
	return err
}

// readable is err with the message of the *mnemo.Error in its chain, if
// there is one, as its text: an operator reads it.
func readable(err error) error {
	var e *mnemo.Error
	if !errors.As(err, &e) {
		return err
	}
	return messageError{strings.Replace(err.Error(), e.Error(), e.Message, 1), err}
}

type messageError struct {
	text string
	err  error
}

func (m messageError) Error() string { return m.text }
func (m messageError) Unwrap() error { return m.err }
