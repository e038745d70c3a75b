package broker

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// v5Client is a minimal raw MQTT 5 client built on mochi's packet codec: paho.mqtt.golang speaks 3.1.1 only,
// and the MQTT 5 failure reason codes are what these tests check.
type v5Client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialV5(t testing.TB, addr, id, user, password string) (*v5Client, packets.Packet) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &v5Client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.send(packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        30,
			ClientIdentifier: id,
			UsernameFlag:     user != "",
			Username:         []byte(user),
			PasswordFlag:     password != "",
			Password:         []byte(password),
		},
	})
	ack, err := c.read()
	if err != nil || ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("connack: type %d, err %v", ack.FixedHeader.Type, err)
	}
	return c, ack
}

func (c *v5Client) send(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = 5
	buf := new(bytes.Buffer)
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(buf)
	case packets.Publish:
		err = pk.PublishEncode(buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(buf)
	default:
		c.t.Fatalf("v5Client cannot send type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		c.t.Fatalf("encode: %v", err)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read reads the next packet; it returns an error (io.EOF) when the broker closed the connection.
func (c *v5Client) read() (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = 5
	pk.FixedHeader.Remaining = n
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	}
	return pk, err
}

func (c *v5Client) publish(topic string, payload []byte, qos byte, id uint16) {
	c.t.Helper()
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		Payload:     payload,
		PacketID:    id,
	})
}
