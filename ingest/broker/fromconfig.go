package broker

import (
	"crypto/tls"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"citywatch/config"
)

// ConfigFromConfig is the broker configuration of the broker section. Users with a plain password get it
// hashed here (bcrypt). tlsCfg is built from bc.TLS by the caller (it reads certificate files); nil without
// a TLS listener.
func ConfigFromConfig(bc config.BrokerConfig, tlsCfg *tls.Config) (Config, error) {
	users := make([]User, len(bc.Users))
	for i, u := range bc.Users {
		hash := u.PasswordHash.Value()
		if hash == "" {
			h, err := bcrypt.GenerateFromPassword([]byte(u.Password.Value()), bcrypt.DefaultCost)
			if err != nil {
				return Config{}, fmt.Errorf("broker.users[%d]: hash the password of %q: %w", i, u.Username, err)
			}
			hash = string(h)
		}
		users[i] = User{Username: u.Username, PasswordHash: hash, Publish: u.Publish, Subscribe: u.Subscribe}
	}
	return Config{
		Listen: bc.Listen, WebSocketListen: bc.WebsocketListen, TLSListen: bc.TLS.Listen, TLS: tlsCfg,
		AllowAnonymous: bc.AllowAnonymous, MaxMessageBytes: int(bc.MaxMessageBytes), Users: users,
	}, nil
}
