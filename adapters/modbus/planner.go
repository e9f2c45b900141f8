package modbus

import "slices"

// planReads coalesces fields into the fewest read requests: per table (coil,
// discrete, input, holding, in that order), by address, a request grows while it
// stays within maxReadRegisters registers (maxReadBits bits for coil and discrete
// tables), the unused addresses it bridges between two fields are at most maxGap,
// and none of those addresses is unreadable. Fields keep their absolute address;
// overlapping fields (a status word and its bits) share a request. The output is
// deterministic: the same fields in any order give the same plan.
//
// A field that itself covers an unreadable address is read anyway: Bind
// rejects such models.
func planReads(fields []Field, maxGap int, unreadable []span) []Read {
	if maxGap < 0 {
		maxGap = 0
	}
	sorted := slices.Clone(fields)
	slices.SortStableFunc(sorted, func(a, b Field) int {
		if a.Table != b.Table {
			return int(a.Table) - int(b.Table)
		}
		if a.Address != b.Address {
			return int(a.Address) - int(b.Address)
		}
		return a.Property - b.Property
	})
	var reads []Read
	for i := 0; i < len(sorted); {
		table := sorted[i].Table
		limit := maxReadRegisters
		if table.IsBits() {
			limit = maxReadBits
		}
		start := int(sorted[i].Address)
		end := start + fieldWidth(sorted[i]) - 1 // inclusive
		j := i + 1
		for ; j < len(sorted) && sorted[j].Table == table; j++ {
			f := sorted[j]
			fStart := int(f.Address)
			fEnd := max(end, fStart+fieldWidth(f)-1)
			if fEnd-start+1 > limit {
				break
			}
			if gap := fStart - end - 1; gap > 0 && (gap > maxGap || coversUnreadable(table, end+1, fStart-1, unreadable)) {
				break
			}
			end = fEnd
		}
		if end > 0xFFFF {
			end = 0xFFFF // only a field Bind would have refused reaches past the table
		}
		reads = append(reads, Read{
			Table:  table,
			Start:  uint16(start),
			Count:  uint16(end - start + 1),
			Fields: sorted[i:j:j],
		})
		i = j
	}
	return reads
}

// fieldWidth is how many addresses a field occupies in its table.
func fieldWidth(f Field) int {
	if f.Table.IsBits() {
		return 1
	}
	if n := f.Codec.Words(); n > 0 {
		return n
	}
	return 1
}

// span is Count addresses from Start in one table: an unreadable range.
type span struct {
	table        Table
	start, count int
}

// coversUnreadable reports whether any address in [from, to] of table is unreadable.
func coversUnreadable(table Table, from, to int, unreadable []span) bool {
	for _, u := range unreadable {
		if u.table != table || u.count <= 0 {
			continue
		}
		if u.start <= to && u.start+u.count-1 >= from {
			return true
		}
	}
	return false
}
