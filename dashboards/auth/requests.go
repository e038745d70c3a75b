package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// loginRequest is the body of POST /api/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// userCreate is the body of POST /api/users.
type userCreate struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Role     Role     `json:"role"`
	Sites    []string `json:"sites"`
	Video    bool     `json:"video"`
	Disabled bool     `json:"disabled"`
}

// userUpdate is the body of PATCH /api/users/{name}; absent fields stay.
type userUpdate struct {
	Password *string   `json:"password"`
	Role     *Role     `json:"role"`
	Sites    *[]string `json:"sites"`
	Video    *bool     `json:"video"`
	Disabled *bool     `json:"disabled"`
}

// tokenCreate is the body of POST /api/tokens.
type tokenCreate struct {
	Name string `json:"name"`
	// Role, Sites and Video make a standalone token (admins only); without Role the token acts for its creator.
	Role  Role     `json:"role"`
	Sites []string `json:"sites"`
	Video bool     `json:"video"`
	// ExpiresIn is a Go duration ("720h"), or "never" (admins only); it defaults to Config.TokenTTL.
	ExpiresIn string `json:"expires_in"`
}

const (
	maxNameLen  = 64
	maxSiteLen  = 128
	maxSites    = 1000
	maxTokenTTL = 10 * 365 * 24 * time.Hour
)

func parseLogin(data []byte) (loginRequest, error) {
	var req loginRequest
	if err := decodeJSON(data, &req); err != nil {
		return req, err
	}
	req.Username = normalizeUsername(req.Username)
	switch {
	case req.Username == "":
		return req, errors.New("username: required")
	case len(req.Username) > 256:
		return req, errors.New("username: too long")
	case req.Password == "":
		return req, errors.New("password: required")
	case len(req.Password) > maxPassword:
		return req, errors.New("password: too long")
	}
	return req, nil
}

func parseUserCreate(data []byte) (userCreate, error) {
	var req userCreate
	if err := decodeJSON(data, &req); err != nil {
		return req, err
	}
	req.Username = normalizeUsername(req.Username)
	if err := validUsername(req.Username); err != nil {
		return req, err
	}
	if err := validPassword(req.Password); err != nil {
		return req, err
	}
	if req.Sites == nil {
		req.Sites = []string{}
	}
	return req, validScope(req.Role, req.Sites)
}

func parseUserUpdate(data []byte) (userUpdate, error) {
	var req userUpdate
	if err := decodeJSON(data, &req); err != nil {
		return req, err
	}
	if req.Password == nil && req.Role == nil && req.Sites == nil && req.Video == nil && req.Disabled == nil {
		return req, errors.New("nothing to change")
	}
	if req.Password != nil {
		if err := validPassword(*req.Password); err != nil {
			return req, err
		}
	}
	if req.Role != nil && !req.Role.Valid() {
		return req, fmt.Errorf("role: must be one of %v, got %q", Roles, clipStr(string(*req.Role)))
	}
	if req.Sites != nil {
		if *req.Sites == nil {
			*req.Sites = []string{}
		}
		if err := validSites(*req.Sites); err != nil {
			return req, err
		}
	}
	return req, nil
}

func parseTokenCreate(data []byte) (tokenCreate, error) {
	var req tokenCreate
	if err := decodeJSON(data, &req); err != nil {
		return req, err
	}
	if req.Name == "" {
		return req, errors.New("name: required")
	}
	if len(req.Name) > maxNameLen || strings.IndexFunc(req.Name, unicode.IsControl) >= 0 {
		return req, fmt.Errorf("name: at most %d printable characters", maxNameLen)
	}
	if req.Sites == nil {
		req.Sites = []string{}
	}
	if req.Role != "" {
		if err := validScope(req.Role, req.Sites); err != nil {
			return req, err
		}
	} else if len(req.Sites) > 0 || req.Video {
		return req, errors.New("sites and video need a role")
	}
	if req.ExpiresIn != "" && req.ExpiresIn != "never" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > maxTokenTTL {
			return req, fmt.Errorf("expires_in: want a positive duration up to %s or \"never\", got %q", maxTokenTTL, clipStr(req.ExpiresIn))
		}
	}
	return req, nil
}

func normalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validUsername(s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("username: 1 to %d characters", maxNameLen)
	}
	for i, c := range s {
		ok := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && strings.ContainsRune("._@-", c))
		if !ok {
			return errors.New("username: letters, digits and . _ @ - only, starting with a letter or digit")
		}
	}
	return nil
}

func validPassword(s string) error {
	if len(s) < minPassword {
		return fmt.Errorf("password: at least %d characters", minPassword)
	}
	if len(s) > maxPassword {
		return fmt.Errorf("password: at most %d characters", maxPassword)
	}
	return nil
}

// validScope checks a role with its sites: admins are never site-restricted (refused rather than ignored, so
// nobody believes an admin is confined), health staff and viewers need at least one site.
func validScope(role Role, sites []string) error {
	if !role.Valid() {
		return fmt.Errorf("role: must be one of %v, got %q", Roles, clipStr(string(role)))
	}
	if err := validSites(sites); err != nil {
		return err
	}
	switch {
	case role == RoleAdmin && len(sites) > 0:
		return errors.New("sites: admins see every site; leave sites empty")
	case (role == RoleHealthStaff || role == RoleViewer) && len(sites) == 0:
		return fmt.Errorf("sites: role %s needs at least one site (or [\"*\"] for a viewer of every site)", role)
	case slices.Contains(sites, AllSitesWildcard) && (len(sites) > 1 || role == RoleHealthStaff):
		return errors.New(`sites: "*" (every site) must stand alone, and health staff always have named sites`)
	}
	return nil
}

func validSites(sites []string) error {
	if len(sites) > maxSites {
		return fmt.Errorf("sites: at most %d", maxSites)
	}
	for i, s := range sites {
		if s == "" || len(s) > maxSiteLen || strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return fmt.Errorf("sites[%d]: 1 to %d printable characters", i, maxSiteLen)
		}
		if slices.Contains(sites[:i], s) {
			return fmt.Errorf("sites[%d]: duplicate %q", i, s)
		}
	}
	return nil
}

// checkScope is validScope after a PATCH has been merged into the stored user.
func checkScope(u User) error { return validScope(u.Role, u.Sites) }

func clipStr(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
