package diskqueue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// recover loads the segments and the acknowledged offset, truncates torn or corrupt tails, deletes fully
// acknowledged segments and positions the reader at the acknowledged offset.
func (q *Queue) recover() error {
	ack, err := q.openAck()
	if err != nil {
		return err
	}
	segs, err := listSegments(q.cfg.Dir)
	if err != nil {
		return err
	}
	q.ack = ack
	var kept []*segment
	for i, s := range segs {
		last := i == len(segs)-1
		if err := q.scan(s, last); err != nil {
			return err
		}
		if !last && (s.end() <= q.ack || s.size == 0) {
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("diskqueue: remove acknowledged segment: %w", err)
			}
			continue
		}
		kept = append(kept, s)
	}
	q.segs = kept
	q.nextBase = q.ack
	if n := len(kept); n > 0 {
		q.nextBase = max(q.ack, kept[n-1].end())
		// Offsets must keep growing: an acknowledged offset past the end (after a truncation) would hide new
		// records, so clamp it.
		if q.ack > kept[n-1].end() {
			q.ack = kept[n-1].end()
			q.nextBase = q.ack
		}
	}
	return q.placeReader()
}

// placeReader puts the reader on the first record at or after the acknowledged offset and counts the
// unacknowledged items.
func (q *Queue) placeReader() error {
	q.items = 0
	for _, s := range q.segs {
		if s.end() <= q.ack && s != q.segs[len(q.segs)-1] {
			continue
		}
		if q.rseg == nil {
			q.rseg = s
			if q.ack > s.base {
				pos, before, err := q.itemsBefore(s, q.ack-s.base)
				if err != nil {
					return err
				}
				q.rpos, q.rItems = pos, before
			}
			q.items += s.items - q.rItems
			continue
		}
		q.items += s.items
	}
	return nil
}

// itemsBefore walks s up to offset limit and returns the first record boundary at or after it and the items
// in the records before that boundary.
func (q *Queue) itemsBefore(s *segment, limit int64) (int64, int64, error) {
	var pos, items int64
	err := walk(s.path, s.size, func(off, n int64, count uint32) bool {
		if off >= limit {
			return false
		}
		pos = off + frameHeader + n
		items += int64(count)
		return true
	})
	return pos, items, err
}

// scan validates every record of s, truncating the file at the first torn or corrupt record, and fills in
// s.size and s.items.
func (q *Queue) scan(s *segment, last bool) error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("diskqueue: %w", err)
	}
	var valid, items int64
	err = walk(s.path, fi.Size(), func(off, n int64, count uint32) bool {
		valid = off + frameHeader + n
		items += int64(count)
		return true
	})
	if err != nil {
		return err
	}
	s.size, s.items = valid, items
	if valid == fi.Size() {
		return nil
	}
	bad := fi.Size() - valid
	q.stats.CorruptBytes += bad
	q.stats.Repairs++
	kind := "torn tail"
	if !last {
		kind = "corrupt record in a sealed segment"
	}
	q.log.Warn("queue recovery: truncating segment", "kind", kind, "segment", filepath.Base(s.path),
		"offset", valid, "bytes", bad)
	if err := os.Truncate(s.path, valid); err != nil {
		return fmt.Errorf("diskqueue: truncate %s: %w", filepath.Base(s.path), err)
	}
	return nil
}

// walk calls fn for every valid record of the file (at most size bytes) in order, until fn returns false or
// the first invalid record. It never fails on bad data, only on I/O errors.
func walk(path string, size int64, fn func(off, n int64, count uint32) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("diskqueue: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.LimitReader(f, size), 1<<20)
	var hdr [frameHeader]byte
	var payload []byte
	var off int64
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return ioErr(err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:]))
		if n < payloadHeader || off+frameHeader+n > size {
			return nil
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return ioErr(err)
		}
		count := binary.LittleEndian.Uint32(payload[8:])
		if count == 0 || crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return nil
		}
		if !fn(off, n, count) {
			return nil
		}
		off += frameHeader + n
	}
}

func ioErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return fmt.Errorf("diskqueue: read segment: %w", err)
}

// openAck opens the acknowledged-offset file and returns its value; a missing or corrupt file means 0 (the
// whole queue is delivered again, which is safe for idempotent consumers).
func (q *Queue) openAck() (int64, error) {
	f, err := os.OpenFile(filepath.Join(q.cfg.Dir, ackFileName), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return 0, fmt.Errorf("diskqueue: %w", err)
	}
	q.ackF = f
	var buf [12]byte
	n, err := f.ReadAt(buf[:], 0)
	if n == 0 && errors.Is(err, io.EOF) {
		return 0, nil
	}
	if n < len(buf) || crc32.Checksum(buf[:8], castagnoli) != binary.LittleEndian.Uint32(buf[8:]) {
		q.log.Warn("queue recovery: acknowledged offset unreadable; replaying the whole queue")
		q.stats.Repairs++
		return 0, nil
	}
	ack := int64(binary.LittleEndian.Uint64(buf[:]))
	if ack < 0 {
		return 0, nil
	}
	return ack, nil
}
