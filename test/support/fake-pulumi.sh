#!/usr/bin/env bash
# A stand-in for the Pulumi CLI, for testing the Automation API adapter (ops/workspace.ts): it
# logs each invocation with the environment the adapter sets, and answers as the CLI would for
# the few commands the adapter runs. Set by the test through the adapter's envVars:
#   FAKE_PULUMI_LOG      file to append "<args> | backend=<url> passphrase=<passphrase>" to
#   FAKE_PULUMI_MISSING  a stack that does not exist yet
#   FAKE_PULUMI_FAIL     a stack whose preview, up and destroy fail
set -u
args="$*"
# `pulumi version` comes first, from PulumiCommand.get, before the adapter's environment applies.
if [ "$1" = version ]; then
  echo "v3.276.0"
  exit 0
fi
echo "$args | backend=${PULUMI_BACKEND_URL:-} passphrase=${PULUMI_CONFIG_PASSPHRASE:-}" >>"$FAKE_PULUMI_LOG"
has() { [[ " $args " == *" $1 "* ]]; }
case "$1" in
  stack)
    case "$2" in
      select)
        if has "--stack ${FAKE_PULUMI_MISSING:-none}"; then
          echo "error: no stack named '$FAKE_PULUMI_MISSING' found" >&2
          exit 255
        fi
        ;;
      output) echo '{"bridge":{"version":2,"cluster":"leaf-a"}}' ;;
      history) echo '[]' ;;
    esac
    ;;
  preview | up | destroy)
    echo "Updating:"
    printf '  a line in '
    printf 'two chunks\n'
    if has "--stack ${FAKE_PULUMI_FAIL:-none}"; then
      echo "error: the update failed" >&2
      exit 255
    fi
    ;;
  config)
    if has "thanos-bridge:leaves"; then
      echo '{"value":"[\"org/thanos-bridge/leaf-a\"]","secret":false}'
    else
      echo "error: configuration key '$3' not found for stack 'observer'" >&2
      exit 255
    fi
    ;;
esac
