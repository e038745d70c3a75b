package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// rawPublisher speaks just enough MQTT 3.1.1 to push PUBLISH packets as fast as a socket takes them, so the
// load generator costs little next to the broker it measures (paho's client is far heavier per message).
type rawPublisher struct {
	conn net.Conn
	w    *bufio.Writer
	r    *bufio.Reader
}

func appendRemainingLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func dialRaw(addr, clientID string, cleanSession bool) (*rawPublisher, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	var body []byte
	body = appendString(body, "MQTT")
	flags := byte(0)
	if cleanSession {
		flags |= 0x02
	}
	body = append(body, 4, flags, 0, 60) // protocol level 4, flags, keepalive 60 s
	body = appendString(body, clientID)
	pkt := appendRemainingLength([]byte{0x10}, len(body))
	pkt = append(pkt, body...)
	p := &rawPublisher{conn: conn, w: bufio.NewWriterSize(conn, 64<<10), r: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := conn.Write(pkt); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ack [4]byte
	if _, err := io.ReadFull(p.r, ack[:]); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connack: %w", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if ack[0] != 0x20 || ack[3] != 0 {
		conn.Close()
		return nil, fmt.Errorf("connack refused: % x", ack)
	}
	return p, nil
}

func (p *rawPublisher) writePublish(topic string, payload []byte, qos byte, id uint16) error {
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	hdr := appendRemainingLength([]byte{0x30 | qos<<1}, n)
	hdr = appendString(hdr, topic)
	if qos > 0 {
		hdr = binary.BigEndian.AppendUint16(hdr, id)
	}
	if _, err := p.w.Write(hdr); err != nil {
		return err
	}
	_, err := p.w.Write(payload)
	return err
}

// publishAll sends n messages made by next. For QoS 1 at most window are unacknowledged at once; it returns
// when every message is acknowledged (QoS 1) or written (QoS 0).
func (p *rawPublisher) publishAll(n int, qos byte, window int, next func(i int) (string, []byte)) error {
	if qos == 0 {
		for i := 0; i < n; i++ {
			topic, payload := next(i)
			if err := p.writePublish(topic, payload, 0, 0); err != nil {
				return err
			}
		}
		return p.w.Flush()
	}
	credits := make(chan struct{}, window)
	readErr := make(chan error, 1)
	go func() {
		var pkt [4]byte
		for acked := 0; acked < n; acked++ {
			if _, err := io.ReadFull(p.r, pkt[:]); err != nil {
				readErr <- err
				return
			}
			if pkt[0] != 0x40 {
				readErr <- fmt.Errorf("unexpected packet % x", pkt)
				return
			}
			<-credits
		}
		readErr <- nil
	}()
	var id uint16
	for i := 0; i < n; i++ {
		select {
		case credits <- struct{}{}:
		case err := <-readErr:
			if err == nil {
				err = errors.New("acks ended early")
			}
			return err
		}
		id++
		if id == 0 {
			id = 1
		}
		topic, payload := next(i)
		if err := p.writePublish(topic, payload, 1, id); err != nil {
			return err
		}
		if len(credits) == window || i == n-1 {
			if err := p.w.Flush(); err != nil {
				return err
			}
		}
	}
	if err := p.w.Flush(); err != nil {
		return err
	}
	return <-readErr
}

func (p *rawPublisher) close() {
	_, _ = p.conn.Write([]byte{0xe0, 0x00}) // DISCONNECT
	p.conn.Close()
}
