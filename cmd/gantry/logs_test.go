package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gantrylb/gantry/agent"
	"github.com/gantrylb/gantry/apiserver"
)

// TestNotFoundKeepsTheAgentsError: the API sees ErrNotFound, the operator
// the agent's words.
func TestNotFoundKeepsTheAgentsError(t *testing.T) {
	cause := fmt.Errorf("agent: logs of task t1: %w", agent.ErrNoTask)
	err := error(notFound{cause})
	if !errors.Is(err, apiserver.ErrNotFound) || !errors.Is(err, agent.ErrNoTask) {
		t.Errorf("notFound{%v}: Is(apiserver.ErrNotFound), Is(agent.ErrNoTask) = %v, %v; want both", cause,
			errors.Is(err, apiserver.ErrNotFound), errors.Is(err, agent.ErrNoTask))
	}
	if err.Error() != cause.Error() {
		t.Errorf("notFound{...}.Error() = %q, want %q", err.Error(), cause.Error())
	}
}
