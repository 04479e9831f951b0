package authn

import (
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/lockout"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
)

// TooManyFailures is the 429 for an attempt a failure limit refused, with
// Retry-After. The message names what was counted without blaming the
// caller, whose address may be shared.
func TooManyFailures(v lockout.Verdict) *pipeline.Rejection {
	msg := verdicts[ReasonTooManyFailures].Message
	switch v.Scope {
	case lockout.ScopeAddress:
		msg = "too many failed attempts from this address; try again later"
	case lockout.ScopeAccountAndAddress:
		msg = "too many failed attempts for this credential from this address; try again later"
	}
	rej := Challenge{}.Refuse(ReasonTooManyFailures, msg)
	rej.Header = http.Header{"Retry-After": {strconv.Itoa(v.Seconds())}}
	return rej
}

// Busy is the 503 for a password check that could not start.
func Busy(err error) *pipeline.Rejection {
	return Challenge{}.Reject(Refusal{Reason: ReasonBusy, Err: err})
}

// Guard returns the policy's guard from the gateway's set, or, for a
// policy built without one (tests of a single policy), a guard of its own
// with the defaults, counting in this process.
func Guard(env *policyenv.Env, pick func(*lockout.Set) *lockout.Guard, name string, def lockout.Limits) *lockout.Guard {
	if env.Lockout != nil {
		if g := pick(env.Lockout); g != nil {
			return g
		}
	}
	l := env.RateLimiter
	if l == nil {
		l = ratelimit.NewLocal(env.Now)
	}
	return lockout.New(l, name, def)
}

// Guessed reports whether err refused a presented secret as wrong (an
// unknown account or a wrong secret): the failures the limits count. A
// malformed request, a deactivated credential (said only to whoever knows
// the secret) or an outage is not a guess.
func Guessed(err error) bool {
	rej, ok := err.(*pipeline.Rejection)
	return ok && rej.Code == string(ReasonInvalid)
}
