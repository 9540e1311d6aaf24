// Package blo is the BLO network at a crossing: the hub's embedded NATS
// JetStream server, its links to the sister BLO across the border and to
// the national coordination centre, the sharing policy that decides what
// crosses, and the receipts and audit of what did (docs/blo-network.md).
package blo

import (
	"fmt"
	"regexp"
	"strings"
)

// Subjects, streams and accounts. A crossing's data is under
// kordon.<crossing>. so a filter, an ACL and a stream source can each be
// written as one prefix.
//
//	kordon.<c>.up.<kind>             to the centre: alert, transition, health, counts, audit
//	kordon.<c>.nb.<peer>.<kind>      to one neighbour: share, receipt
const (
	// CentreDomain is the coordination centre's JetStream domain.
	CentreDomain = "centre"
	// UplinkStream holds, at a hub, everything the centre sources.
	UplinkStream = "UPLINK"
	// OutStream holds, in a neighbour's account at a hub, what that neighbour sources.
	OutStream = "OUT"
	// InStream is, in a neighbour's account at a hub, the copy of the neighbour's OUT for us.
	InStream = "IN"
	// FeedStream is, in a crossing's account at the centre, the copy of its UPLINK.
	FeedStream = "FEED"
	// HubAccount is the hub's own account: the uplink and the hub's engine.
	HubAccount = "HUB"
)

// Uplink kinds.
const (
	KindAlert      = "alert"
	KindTransition = "transition"
	KindHealth     = "health"
	KindCounts     = "counts"
	KindAudit      = "audit"
	KindShare      = "share"
	KindReceipt    = "receipt"
)

var siteRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,40}$`)

// ValidSite says whether id can name a crossing or the centre: it becomes
// a subject token, a JetStream domain, an account and stream name part.
func ValidSite(id string) error {
	if !siteRe.MatchString(id) {
		return fmt.Errorf("site id %q: lower-case letters, digits and '-', at most 41, starting with a letter or digit", id)
	}
	return nil
}

// UpSubject is where a crossing puts one kind of message for the centre.
func UpSubject(crossing, kind string) string { return "kordon." + crossing + ".up." + kind }

// UpFilter is everything a crossing sends the centre.
func UpFilter(crossing string) string { return "kordon." + crossing + ".up.>" }

// NbSubject is where crossing from puts one kind of message for neighbour to.
func NbSubject(from, to, kind string) string { return "kordon." + from + ".nb." + to + "." + kind }

// NbFilter is everything crossing from sends neighbour to.
func NbFilter(from, to string) string { return "kordon." + from + ".nb." + to + ".>" }

// NbAccount is the account, at a hub, that holds what is exchanged with one neighbour.
func NbAccount(peer string) string {
	return "NB_" + strings.ToUpper(strings.ReplaceAll(peer, "-", "_"))
}

// CrossingAccount is a crossing's account at the centre.
func CrossingAccount(crossing string) string {
	return "X_" + strings.ToUpper(strings.ReplaceAll(crossing, "-", "_"))
}

// KindOf is the last token of a subject.
func KindOf(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i >= 0 {
		return subject[i+1:]
	}
	return subject
}

// GlobalID qualifies an id local to a crossing so it is unique across every
// crossing (the centre, the i2 export, a neighbour's screen). An id already
// qualified is returned as it is.
func GlobalID(crossing, id string) string {
	if strings.HasPrefix(id, crossing+":") {
		return id
	}
	return crossing + ":" + id
}
