package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// CreateUser creates a user outside the HTTP API (demo set-up, tests). The name and password follow the API's
// rules (lower-case name, password of at least 12 characters).
func (a *Auth) CreateUser(ctx context.Context, username, password string, role Role, sites []string, video bool) error {
	username = normalizeUsername(username)
	if sites == nil {
		sites = []string{}
	}
	if err := errors.Join(validUsername(username), validPassword(password), validScope(role, sites)); err != nil {
		return fmt.Errorf("auth: create user: %w", err)
	}
	hash, err := a.hash(ctx, password)
	if err != nil {
		return err
	}
	now := a.now()
	if err := a.st.insertUser(ctx, User{Username: username, Role: role, Sites: sites, Video: video,
		CreatedAt: now, UpdatedAt: now}, hash); err != nil {
		return fmt.Errorf("auth: create user %q: %w", username, err)
	}
	return nil
}

// IssueToken creates a standalone API token outside the HTTP API (automation set-up, tests) and returns its
// secret, which is not stored. ttl <= 0 means it never expires.
func (a *Auth) IssueToken(ctx context.Context, name string, role Role, sites []string, video bool, ttl time.Duration) (string, error) {
	if sites == nil {
		sites = []string{}
	}
	if err := validScope(role, sites); err != nil {
		return "", fmt.Errorf("auth: issue token: %w", err)
	}
	secretPart, err := randomToken(32)
	if err != nil {
		return "", err
	}
	idPart, err := randomToken(9)
	if err != nil {
		return "", err
	}
	now := a.now()
	t := Token{ID: "tok_" + idPart, Name: name, CreatedBy: "system", Role: role, Sites: sites, Video: video, CreatedAt: now}
	if ttl > 0 {
		exp := now.Add(ttl)
		t.ExpiresAt = &exp
	}
	secret := "cw_" + secretPart
	h := sha256.Sum256([]byte(secret))
	if err := a.st.insertToken(ctx, t, h[:]); err != nil {
		return "", fmt.Errorf("auth: issue token: %w", err)
	}
	return secret, nil
}
