#!/usr/bin/env bash
# Deploys s2s-authorizer to IBM Cloud Code Engine: the app (CloudEvents over HTTP), the reconcile
# job, a daily cron subscription and, optionally, a Kafka subscription fed by Activity Tracker
# Event Routing. Every step creates what is missing and updates what is there, so the script is
# run again for each new release. See --help.
set -euo pipefail

readonly APP_NAME=s2s-authorizer
readonly JOB_NAME=s2s-authorizer-reconcile
readonly CRON_SUB=s2s-authorizer-daily-reconcile
readonly KAFKA_SUB=s2s-authorizer-activity-events
readonly CREDENTIALS_SECRET=s2s-authorizer-credentials
readonly EVENT_TOKEN_SECRET=s2s-authorizer-event-token
readonly KAFKA_SECRET_DEFAULT=s2s-authorizer-kafka
readonly ROUTING_NAME=s2s-authorizer-activity-events
# The image is built once per deploy, by a build run named after this prefix and the time, and the
# app and the job both run it. Build run names must begin and end with a lowercase letter.
readonly BUILD_RUN_PREFIX=s2s-authorizer
readonly BUILD_RUN_SUFFIX=build
# "large" is 2 CPUs, 8 GB (Code Engine docs, "Planning your build", build sizes). A cold compile
# of the binary took 205 s on one CPU (the default "medium"), a third of the default 600 s build
# timeout; two CPUs leave more than half of it free for slower days and a growing tree.
readonly BUILD_SIZE=large
# Code Engine reruns a job run on any non-zero exit, up to --retrylimit times (3 by default).
# The job exits 2 when a retry cannot help (bad configuration or input) and 1 when something
# failed; its IAM, VPC and Key Protect clients already retry 429 and 5xx inside the run, and
# the cron subscription runs a full reconcile again the next day, which heals whatever the
# failed run left. So no rerun: 0 keeps an exit 2 from running three more times for nothing.
readonly JOB_RETRY_LIMIT=0
# What the cron subscription sends; the job treats the ping as "reconcile everything".
readonly CRON_DATA='{"reconcile":"all"}'

# Configuration of the binary that is not secret and is passed through as --env when set.
# IBMCLOUD_API_KEY and EVENT_AUTH_TOKEN travel in Code Engine secrets, IBMCLOUD_TRUSTED_PROFILE
# comes from --trusted-profile and PORT becomes the app's --port.
readonly CONFIG_VARS=(
	IBMCLOUD_ACCOUNT_ID IBMCLOUD_IAM_URL IBMCLOUD_VPC_URL IBMCLOUD_RESOURCE_CONTROLLER_URL
	IBMCLOUD_KMS_URL IBMCLOUD_REGIONS RESTORE_TAG_PREFIX
	RESTORE_ALLOWED_ACCOUNTS KMS_CONSUMER_ACCOUNTS KMS_SCOPE SYNC_MODE DRY_RUN LOG_LEVEL
	POLICY_CACHE_TTL BACKUP_AUTHORIZATIONS BACKUP_SHARES BACKUP_ENTERPRISE_ACCOUNT
)

# Options and their defaults.
PROJECT=s2s-authorizer
REGION=us-south
RESOURCE_GROUP=Default
IMAGE=
REGISTRY_SECRET=
BUILD_SOURCE=
TRUSTED_PROFILE=
API_KEY_ENV=
PUBLIC=0
SCHEDULE='0 3 * * *'
# The app's instances and the reconcile job may write at once: every decision is verified
# against IAM (see the README's "Many writers"), and the randomized many-writers test proves it
# for up to 3 app instances beside a running reconcile.
MAX_SCALE=3
KAFKA_BROKERS=
KAFKA_TOPIC=
KAFKA_SECRET=
EVENT_STREAMS_CRN=
SETUP_ROUTING=0
PLAN_ONLY=0
DELETE=0
DELETE_PROJECT=0
ASSUME_YES=0

WORK=
ACTION_NEEDED=0

usage() {
	cat <<'EOF'
usage: deploy.sh (--trusted-profile NAME | --api-key-env VAR) [options]
       deploy.sh --delete [--delete-project] [--yes] [options]

Deploy s2s-authorizer to IBM Cloud Code Engine, or update a deployment made earlier: each
resource is created when missing and updated when present. Log in first (ibmcloud login) and
install the plugin (ibmcloud plugin install code-engine).

What it manages, in the selected project:
  app s2s-authorizer                  'serve': CloudEvents over HTTP, 0 to 1 instance, port 8080
  job s2s-authorizer-reconcile        'job': a full reconcile when run without an event
  cron subscription s2s-authorizer-daily-reconcile   runs the job on --schedule
  Kafka subscription s2s-authorizer-activity-events  Activity Tracker events to the app
  secrets s2s-authorizer-credentials (API key), s2s-authorizer-event-token, s2s-authorizer-kafka

Identity (one is required to deploy):
  --trusted-profile NAME   run as this IAM trusted profile (name or ID): no API key is stored.
                           The profile is created when missing and linked to the app and the
                           job (compute resources); if that is not permitted, the commands for
                           an administrator are printed. Default: $IBMCLOUD_TRUSTED_PROFILE.
  --api-key-env VAR        read the API key from environment variable VAR (never from the
                           command line) and store it in the secret s2s-authorizer-credentials.
                           IBMCLOUD_API_KEY, which the ibmcloud CLI itself reads, is passed on
                           only when named here (--api-key-env IBMCLOUD_API_KEY).
  Switching identity on a later run removes the other one: --trusted-profile takes the key
  secret off the app and the job and deletes it; --api-key-env disables the trusted profile.

Project:
  --project NAME           Code Engine project, created when missing (default: s2s-authorizer)
  --region REGION          region of the project (default: us-south)
  --resource-group NAME    resource group of the project (default: Default)

Image (default: build this source tree once with a Code Engine build run of size large and
its Dockerfile, and run that one image as the app and the job; .ceignore says what is not
uploaded):
  --build-source DIR       source directory to build (default: the directory of deploy.sh)
  --image REF              deploy this image instead of building
  --registry-secret NAME   Code Engine registry secret to pull --image with

App and job:
  --public                 make the app reachable from the internet (needed for Event
                           Notifications destinations); callers must then present
                           EVENT_AUTH_TOKEN, kept in the secret s2s-authorizer-event-token and
                           generated when that secret does not exist yet. Default: visible in
                           the project only, which is enough for the Kafka subscription. Not
                           with a Kafka subscription, which cannot send the token. Dropping
                           --public later removes the token requirement (the secret is kept).
  --schedule CRON          schedule of the full reconcile, five cron fields, UTC
  --max-scale N            most app instances at once (default: 3, what the many-writers
                           test proves correct beside a running reconcile)
                           (default: '0 3 * * *')

Events from Activity Tracker (optional):
  --kafka-brokers LIST     comma-separated Event Streams brokers (kafka_brokers_sasl)
  --kafka-topic TOPIC      topic that Activity Tracker Event Routing writes to
  --kafka-secret NAME      existing Code Engine secret with keys username and password; without
                           it, the secret s2s-authorizer-kafka is made from KAFKA_USER and
                           KAFKA_PASSWORD
  --event-streams-crn CRN  CRN of the Event Streams instance (for --setup-routing)
  --setup-routing          also create the Activity Tracker Event Routing target and route
                           (needs the atracker plugin); without it the commands are printed

Run control:
  --dry-run                print every command (prefixed '+ ', shell-quoted) and run nothing,
                           not even read-only look-ups: the plan assumes that nothing exists yet
                           (and, with --delete, that everything exists). Secrets show as ***.
  --delete                 remove what this script creates: subscriptions, app, job, and the
                           secrets it made (never a --kafka-secret given to it, nor the trusted
                           profile). Asks for confirmation on a terminal.
  --delete-project         with --delete, also delete the Code Engine project
  --yes                    do not ask for confirmation (required for --delete without a terminal)
  -h, --help               show this help

Environment read by deploy.sh:
  VAR named by --api-key-env   the API key for the app and the job
  KAFKA_USER                   Event Streams user for the Kafka secret (default: token)
  KAFKA_PASSWORD               Event Streams API key for the Kafka secret
  IBMCLOUD_TRUSTED_PROFILE     default of --trusted-profile
  EVENT_AUTH_TOKEN             shared token stored in s2s-authorizer-event-token (else generated
                               with --public when the secret does not exist yet)
  PORT                         port the app listens on (default: 8080)
  Passed to the app and the job as --env when set and not empty:
    IBMCLOUD_ACCOUNT_ID IBMCLOUD_IAM_URL IBMCLOUD_VPC_URL IBMCLOUD_RESOURCE_CONTROLLER_URL
    IBMCLOUD_KMS_URL IBMCLOUD_REGIONS (default us-south; also the
    locations of the Activity Tracker route) RESTORE_TAG_PREFIX RESTORE_ALLOWED_ACCOUNTS
    KMS_CONSUMER_ACCOUNTS KMS_SCOPE SYNC_MODE DRY_RUN (the app's own dry run, not --dry-run)
    LOG_LEVEL POLICY_CACHE_TTL BACKUP_AUTHORIZATIONS BACKUP_SHARES BACKUP_ENTERPRISE_ACCOUNT
  A variable set by an earlier deployment and unset now stays on the app until removed with
  'ibmcloud ce app update --env-rm NAME'.

The job is created with --retrylimit 0: Code Engine reruns a failed job run on any non-zero
exit, and exit 2 (bad configuration or input) cannot be helped by a rerun; the next scheduled
run heals what a failed one left.

Exit status: 0 done, 1 a command failed (or a look-up failed for another reason than "not
found": nothing is created in its place), 2 a missing prerequisite or a wrong invocation.
EOF
}

# --- output ------------------------------------------------------------------------------------

say() { printf '%s\n' "$*"; }
warn() { printf 'deploy.sh: warning: %s\n' "$*" >&2; }

# usage_error and prerequisite failures exit 2 before anything has been changed.
usage_error() {
	printf 'deploy.sh: %s\n' "$*" >&2
	printf "Run 'deploy.sh --help' for the options.\n" >&2
	exit 2
}
missing() {
	printf 'deploy.sh: %s\n' "$*" >&2
	exit 2
}
fail() {
	printf 'deploy.sh: %s\n' "$*" >&2
	exit 1
}

# quote ARG...: the arguments as one line that a POSIX shell reads back as the same words.
quote() {
	local a sep='' out=''
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
			out+="$sep$a"
		else
			out+="$sep'${a//\'/\'\\\'\'}'"
		fi
		sep=' '
	done
	printf '%s' "$out"
}

# show [-n NOTE] CMD...: the command as it is (or would be) run, with an optional trailing
# comment, used to say what a secret file holds without its value.
show() {
	local note=''
	if [[ $1 == -n ]]; then
		note="  # $2"
		shift 2
	fi
	printf '+ %s%s\n' "$(quote "$@")" "$note"
}

# run [-n NOTE] CMD...: show the command, then run it unless this is a dry run.
run() {
	show "$@"
	((PLAN_ONLY)) && return 0
	[[ $1 == -n ]] && shift 2
	"$@" || fail "command failed (exit $?): $(quote "$@")"
}

# try CMD...: like run, but returns the status instead of stopping, for steps whose failure is
# reported with a way to finish by hand.
try() {
	show "$@"
	((PLAN_ONLY)) && return 0
	"$@"
}

# present CMD...: whether a read-only look-up finds the resource; its output is left in
# LOOKED_UP for the caller. Dry runs call nothing: they assume "missing" when deploying and
# "present" when deleting, so the plan shows every step.
#
# Only an answer that says the resource does not exist counts as missing. Any other failure (no
# network, an expired login, a 403, an outage) stops the script: taken for "missing", it would
# lead to a create that fails less clearly, or to a second resource. IBM documents no exit codes
# for the CLI's look-ups; its plugins say "not found" (or "does not exist") for a missing
# resource, so that wording is what is matched.
LOOKED_UP=
present() {
	LOOKED_UP=
	if ((PLAN_ONLY)); then
		((DELETE))
		return
	fi
	local status=0
	LOOKED_UP=$("$@" 2>&1) || status=$?
	((status == 0)) && return 0
	if is_not_found "$LOOKED_UP"; then
		LOOKED_UP=
		return 1
	fi
	printf '%s\n' "$LOOKED_UP" >&2
	fail "could not look up whether it exists (exit $status), so nothing is created in its place: $(quote "$@")"
}

is_not_found() {
	local out=$1 rc=1
	shopt -s nocasematch
	[[ $out == *"not found"* || $out == *"does not exist"* || $out == *"could not be found"* ]] && rc=0
	shopt -u nocasematch
	return $rc
}

# --- options -----------------------------------------------------------------------------------

parse_args() {
	local -a args=("$@")
	local i=0 n=$# opt val inline
	while ((i < n)); do
		opt=${args[i]}
		val=''
		inline=0
		if [[ $opt == --*=* ]]; then
			val=${opt#*=}
			opt=${opt%%=*}
			inline=1
		fi
		case $opt in
		--project | --region | --resource-group | --image | --registry-secret | --build-source | \
			--trusted-profile | --api-key-env | --schedule | --max-scale | --kafka-brokers | --kafka-topic | \
			--kafka-secret | --event-streams-crn)
			if ((!inline)); then
				((i + 1 < n)) || usage_error "option $opt needs a value"
				i=$((i + 1))
				val=${args[i]}
			fi
			[[ -n $val ]] || usage_error "option $opt needs a non-empty value"
			case $opt in
			--project) PROJECT=$val ;;
			--region) REGION=$val ;;
			--resource-group) RESOURCE_GROUP=$val ;;
			--image) IMAGE=$val ;;
			--registry-secret) REGISTRY_SECRET=$val ;;
			--build-source) BUILD_SOURCE=$val ;;
			--trusted-profile) TRUSTED_PROFILE=$val ;;
			--api-key-env) API_KEY_ENV=$val ;;
			--schedule) SCHEDULE=$val ;;
			--max-scale) MAX_SCALE=$val ;;
			--kafka-brokers) KAFKA_BROKERS=$val ;;
			--kafka-topic) KAFKA_TOPIC=$val ;;
			--kafka-secret) KAFKA_SECRET=$val ;;
			--event-streams-crn) EVENT_STREAMS_CRN=$val ;;
			esac
			;;
		--public | --dry-run | --delete | --delete-project | --yes | --setup-routing | -h | --help)
			((!inline)) || usage_error "option $opt takes no value"
			case $opt in
			--public) PUBLIC=1 ;;
			--dry-run) PLAN_ONLY=1 ;;
			--delete) DELETE=1 ;;
			--delete-project) DELETE_PROJECT=1 ;;
			--yes) ASSUME_YES=1 ;;
			--setup-routing) SETUP_ROUTING=1 ;;
			-h | --help)
				usage
				exit 0
				;;
			esac
			;;
		*) usage_error "unknown option '$opt'" ;;
		esac
		i=$((i + 1))
	done
}

# validate checks the invocation itself; it runs no command, so it works without ibmcloud.
validate() {
	if ((DELETE_PROJECT && !DELETE)); then
		usage_error "--delete-project only goes with --delete"
	fi
	if ((DELETE)); then
		return 0
	fi
	if [[ -z $TRUSTED_PROFILE && -z $API_KEY_ENV ]]; then
		TRUSTED_PROFILE=${IBMCLOUD_TRUSTED_PROFILE:-}
	fi
	if [[ -n $TRUSTED_PROFILE && -n $API_KEY_ENV ]]; then
		usage_error "give either --trusted-profile or --api-key-env, not both"
	fi
	if [[ -z $TRUSTED_PROFILE && -z $API_KEY_ENV ]]; then
		usage_error "missing identity: give --trusted-profile NAME (preferred, no key stored) or --api-key-env VAR"
	fi
	if [[ -n $API_KEY_ENV ]]; then
		[[ $API_KEY_ENV =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
			usage_error "--api-key-env takes the name of an environment variable, not '$API_KEY_ENV'"
		[[ -n ${!API_KEY_ENV:-} ]] ||
			usage_error "environment variable $API_KEY_ENV (named by --api-key-env) is not set or is empty"
	fi
	if [[ -n $IMAGE && -n $BUILD_SOURCE ]]; then
		usage_error "give either --image or --build-source, not both"
	fi
	if [[ -n $REGISTRY_SECRET && -z $IMAGE ]]; then
		usage_error "--registry-secret only goes with --image"
	fi
	local -a fields
	[[ $MAX_SCALE =~ ^[1-9][0-9]{0,2}$ ]] || usage_error "--max-scale needs a whole number from 1 to 999, got '$MAX_SCALE'"
	read -r -a fields <<<"$SCHEDULE"
	((${#fields[@]} == 5)) || usage_error "--schedule needs five cron fields, got '$SCHEDULE'"
	if [[ -n $KAFKA_BROKERS || -n $KAFKA_TOPIC || -n $KAFKA_SECRET ]]; then
		[[ -n $KAFKA_BROKERS && -n $KAFKA_TOPIC ]] ||
			usage_error "the Kafka subscription needs both --kafka-brokers and --kafka-topic"
		[[ -n $KAFKA_SECRET || -n ${KAFKA_PASSWORD:-} ]] ||
			usage_error "the Kafka subscription needs --kafka-secret NAME or KAFKA_PASSWORD in the environment"
	fi
	# A Kafka subscription can add CloudEvents extensions to what it delivers but no Authorization
	# header (Code Engine docs, "Working with the Kafka event producer"), and the app refuses
	# every event without the token once EVENT_AUTH_TOKEN is set: each Activity Tracker event
	# would get 401. Event Notifications, the reason for --public, carries no Activity Tracker
	# events, so the two are never needed together.
	if [[ -n $KAFKA_BROKERS ]] && ((PUBLIC)); then
		usage_error "--public does not go with a Kafka subscription: a public app requires the event token in an Authorization header, which a Code Engine Kafka subscription cannot send, so every Activity Tracker event would be refused (401); the Kafka subscription reaches a project-visible app without one, so drop --public"
	fi
	if [[ -n $KAFKA_BROKERS && -n ${EVENT_AUTH_TOKEN:-} ]]; then
		usage_error "EVENT_AUTH_TOKEN does not go with a Kafka subscription: the app would require the token in an Authorization header, which a Code Engine Kafka subscription cannot send, so every Activity Tracker event would be refused (401); unset EVENT_AUTH_TOKEN"
	fi
	if ((SETUP_ROUTING)); then
		[[ -n $KAFKA_BROKERS && -n $KAFKA_TOPIC && -n $EVENT_STREAMS_CRN ]] ||
			usage_error "--setup-routing needs --kafka-brokers, --kafka-topic and --event-streams-crn"
	fi
	if [[ -n $EVENT_STREAMS_CRN && $EVENT_STREAMS_CRN != crn:v1:* ]]; then
		usage_error "--event-streams-crn must be a CRN (crn:v1:…), not '$EVENT_STREAMS_CRN'"
	fi
	if [[ -z $IMAGE && -z $BUILD_SOURCE ]]; then
		BUILD_SOURCE=$SCRIPT_DIR
	fi
	if [[ -n $BUILD_SOURCE && ! -f $BUILD_SOURCE/Dockerfile ]]; then
		usage_error "no Dockerfile in the build source '$BUILD_SOURCE'"
	fi
}

# check_prerequisites runs read-only commands only. A dry run skips it: it calls nothing.
check_prerequisites() {
	if ((PLAN_ONLY)); then
		return 0
	fi
	command -v ibmcloud >/dev/null 2>&1 ||
		missing "ibmcloud not found on PATH; install the IBM Cloud CLI (https://cloud.ibm.com/docs/cli)"
	ibmcloud iam oauth-tokens >/dev/null 2>&1 ||
		missing "not logged in to IBM Cloud; run 'ibmcloud login' (or 'ibmcloud login --sso') first"
	ibmcloud plugin show code-engine >/dev/null 2>&1 ||
		missing "the code-engine CLI plugin is not installed; run 'ibmcloud plugin install code-engine'"
	if ((SETUP_ROUTING)); then
		ibmcloud plugin show atracker >/dev/null 2>&1 ||
			missing "--setup-routing needs the atracker CLI plugin; run 'ibmcloud plugin install atracker'"
	fi
}

confirm_delete() {
	if ((ASSUME_YES || PLAN_ONLY)); then
		return 0
	fi
	[[ -t 0 ]] ||
		usage_error "refusing to delete without confirmation: standard input is not a terminal; pass --yes"
	local what="app $APP_NAME, job $JOB_NAME, their subscriptions and secrets in project $PROJECT ($REGION)"
	((DELETE_PROJECT)) && what+=", and the project itself"
	local answer
	read -r -p "Delete ${what}? [y/N] " answer
	[[ $answer == y || $answer == Y || $answer == yes ]] || fail "nothing deleted"
}

# --- steps -------------------------------------------------------------------------------------

select_project() {
	run ibmcloud target -r "$REGION" -g "$RESOURCE_GROUP"
	if present ibmcloud ce project get --name "$PROJECT"; then
		run ibmcloud ce project select --name "$PROJECT"
	elif ((DELETE)); then
		say "Project $PROJECT does not exist in $REGION: nothing to delete."
		exit 0
	else
		run ibmcloud ce project create --name "$PROJECT"
	fi
}

# put_secret NAME KEY VALUE [KEY VALUE...]: create or update a Code Engine secret from a file
# readable by this user only, so that no value is on a command line (ps, shell history, logs).
put_secret() {
	local name=$1 file note='' sep=''
	shift
	file=$WORK/$name.env
	local -a pairs=("$@")
	local i
	for ((i = 0; i < ${#pairs[@]}; i += 2)); do
		note+="$sep${pairs[i]}=***"
		sep=' '
	done
	if ((!PLAN_ONLY)); then
		: >"$file"
		for ((i = 0; i < ${#pairs[@]}; i += 2)); do
			printf '%s=%s\n' "${pairs[i]}" "${pairs[i + 1]}" >>"$file"
		done
	fi
	if present ibmcloud ce secret get --name "$name"; then
		run -n "$note" ibmcloud ce secret update --name "$name" --from-env-file "$file"
	else
		run -n "$note" ibmcloud ce secret create --name "$name" --from-env-file "$file"
	fi
	if ((!PLAN_ONLY)); then
		rm -f "$file"
	fi
}

random_token() {
	if command -v openssl >/dev/null 2>&1; then
		openssl rand -hex 32
	else
		od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
	fi
}

# The secrets hold what must not be shown: the API key, the shared event token, the Kafka
# password. The app and the job reference them with --env-from-secret.
SECRET_REFS=()
KAFKA_SECRET_NAME=
ensure_secrets() {
	if [[ -n $API_KEY_ENV ]]; then
		put_secret "$CREDENTIALS_SECRET" IBMCLOUD_API_KEY "${!API_KEY_ENV}"
		SECRET_REFS+=("$CREDENTIALS_SECRET")
	fi
	if [[ -n ${EVENT_AUTH_TOKEN:-} ]]; then
		put_secret "$EVENT_TOKEN_SECRET" EVENT_AUTH_TOKEN "$EVENT_AUTH_TOKEN"
		SECRET_REFS+=("$EVENT_TOKEN_SECRET")
	elif ((PUBLIC)); then
		# An existing token is kept: Event Notifications destinations already send it.
		if ! present ibmcloud ce secret get --name "$EVENT_TOKEN_SECRET"; then
			local token=''
			((PLAN_ONLY)) || token=$(random_token)
			put_secret "$EVENT_TOKEN_SECRET" EVENT_AUTH_TOKEN "$token"
		fi
		SECRET_REFS+=("$EVENT_TOKEN_SECRET")
	fi
	if [[ -n $KAFKA_BROKERS ]]; then
		if [[ -n $KAFKA_SECRET ]]; then
			KAFKA_SECRET_NAME=$KAFKA_SECRET
		else
			KAFKA_SECRET_NAME=$KAFKA_SECRET_DEFAULT
			put_secret "$KAFKA_SECRET_NAME" username "${KAFKA_USER:-token}" password "$KAFKA_PASSWORD"
		fi
	fi
}

project_crn() {
	if ((PLAN_ONLY)); then
		printf '%s' "<CRN of project $PROJECT>"
		return 0
	fi
	local out line
	out=$(ibmcloud resource service-instance "$PROJECT" --location "$REGION" -g "$RESOURCE_GROUP" --crn 2>/dev/null) ||
		fail "could not read the CRN of project $PROJECT (ibmcloud resource service-instance)"
	while IFS= read -r line; do
		if [[ $line == crn:*:codeengine:* ]]; then
			printf '%s' "$line"
			return 0
		fi
	done <<<"$out"
	fail "no Code Engine CRN in the answer of 'ibmcloud resource service-instance $PROJECT'"
}

print_trusted_profile_commands() {
	local crn=$1
	ACTION_NEEDED=1
	warn "could not set up trusted profile '$TRUSTED_PROFILE' (missing IAM permissions?)."
	{
		say "An administrator of the IAM Identity Service can finish it with:"
		say "  $(quote ibmcloud iam trusted-profile-create "$TRUSTED_PROFILE" -d 'Runs s2s-authorizer in Code Engine')"
		say "  $(quote ibmcloud iam trusted-profile-link-create "$TRUSTED_PROFILE" --name "ce-application-$APP_NAME" --cr-type CE --link-crn "$crn" --link-component-type application --link-component-name "$APP_NAME")"
		say "  $(quote ibmcloud iam trusted-profile-link-create "$TRUSTED_PROFILE" --name "ce-job-$JOB_NAME" --cr-type CE --link-crn "$crn" --link-component-type job --link-component-name "$JOB_NAME")"
	} >&2
}

# A trusted profile trusts compute resources through links naming the project and the component;
# Code Engine then mounts a compute-resource token that the app exchanges for an IAM token.
ensure_trusted_profile() {
	local crn links=''
	crn=$(project_crn)
	if ! present ibmcloud iam trusted-profile "$TRUSTED_PROFILE" --id; then
		if [[ $TRUSTED_PROFILE == Profile-* ]]; then
			fail "trusted profile $TRUSTED_PROFILE not found (an ID names an existing profile)"
		fi
		if ! try ibmcloud iam trusted-profile-create "$TRUSTED_PROFILE" -d 'Runs s2s-authorizer in Code Engine'; then
			print_trusted_profile_commands "$crn"
			return 0
		fi
	fi
	if ((!PLAN_ONLY)); then
		# A profile just created has no links; an existing one's must be read, or each run would
		# try to link again.
		links=$(ibmcloud iam trusted-profile-links "$TRUSTED_PROFILE" --output JSON 2>&1) ||
			fail "could not list the links of trusted profile $TRUSTED_PROFILE: $links"
	fi
	local kind component link
	for kind in application job; do
		component=$APP_NAME
		[[ $kind == job ]] && component=$JOB_NAME
		link=ce-$kind-$component
		[[ $links == *"\"$link\""* ]] && continue
		if ! try ibmcloud iam trusted-profile-link-create "$TRUSTED_PROFILE" --name "$link" --cr-type CE \
			--link-crn "$crn" --link-component-type "$kind" --link-component-name "$component"; then
			print_trusted_profile_commands "$crn"
			return 0
		fi
	done
}

# build_image builds BUILD_SOURCE once with a Code Engine build run and sets IMAGE and
# REGISTRY_SECRET to its result, so that the app and the job run the very same image (given
# --build-source each, they would build their own, twice the time, and could differ). The build
# run pushes to a Container Registry namespace that Code Engine creates and reaches through its
# own registry secret, ce-auto-icr-private-<region> ("automatic access"; Code Engine docs,
# "Building a container image with stand-alone build commands"). The upload leaves out what
# .ceignore names.
build_image() {
	local name
	# The time says which deploy built it; the random part keeps two deploys in one second apart.
	name=$BUILD_RUN_PREFIX-$(date -u +%Y%m%d-%H%M%S)-$RANDOM-$BUILD_RUN_SUFFIX
	run ibmcloud ce buildrun submit --name "$name" --source "$BUILD_SOURCE" --strategy dockerfile \
		--size "$BUILD_SIZE" --wait
	if ((PLAN_ONLY)); then
		IMAGE="<image of build run $name>"
		REGISTRY_SECRET="<registry secret of build run $name>"
		return 0
	fi
	local out line
	out=$(ibmcloud ce buildrun get --name "$name" 2>&1) ||
		fail "could not read the result of build run $name: $out"
	# buildrun get prints "Image:" and "Registry Secret:" lines (and an "Image Digest:" one).
	while IFS= read -r line; do
		if [[ $line =~ ^[[:space:]]*Image:[[:space:]]+([^[:space:]]+) ]]; then
			IMAGE=${BASH_REMATCH[1]}
		elif [[ $line =~ ^[[:space:]]*Registry\ Secret:[[:space:]]+([^[:space:]]+) ]]; then
			REGISTRY_SECRET=${BASH_REMATCH[1]}
		fi
	done <<<"$out"
	[[ -n $IMAGE ]] || fail "no image in the answer of 'ibmcloud ce buildrun get --name $name'"
	say "Built $IMAGE"
}

# Arguments that the app and the job share: image, identity, configuration.
COMMON_ARGS=()
build_common_args() {
	COMMON_ARGS+=(--image "$IMAGE")
	[[ -n $REGISTRY_SECRET ]] && COMMON_ARGS+=(--registry-secret "$REGISTRY_SECRET")
	if [[ -n $TRUSTED_PROFILE ]]; then
		COMMON_ARGS+=(--trusted-profiles-enabled --env "IBMCLOUD_TRUSTED_PROFILE=$TRUSTED_PROFILE")
	fi
	local name ref
	for name in "${CONFIG_VARS[@]}"; do
		if [[ -n ${!name:-} ]]; then
			COMMON_ARGS+=(--env "$name=${!name}")
		fi
	done
	for ref in "${SECRET_REFS[@]}"; do
		COMMON_ARGS+=(--env-from-secret "$ref")
	done
}

# stale_args DESCRIPTION: the update arguments that remove what an earlier deployment gave the
# app or job (described by its 'get --output json') and this one does not want. Code Engine keeps
# every environment variable and secret reference an update does not remove, and the binary
# takes an API key over a trusted profile when it has both: without this, switching to
# --trusted-profile would leave the app running as the old key.
STALE_ARGS=()
stale_args() {
	local described=$1
	STALE_ARGS=()
	if [[ -z $API_KEY_ENV && $described == *"$CREDENTIALS_SECRET"* ]]; then
		STALE_ARGS+=(--env-from-secret-rm "$CREDENTIALS_SECRET")
	fi
	if [[ ! " ${SECRET_REFS[*]} " == *" $EVENT_TOKEN_SECRET "* && $described == *"$EVENT_TOKEN_SECRET"* ]]; then
		STALE_ARGS+=(--env-from-secret-rm "$EVENT_TOKEN_SECRET")
	fi
	if [[ -z $TRUSTED_PROFILE && $described == *IBMCLOUD_TRUSTED_PROFILE* ]]; then
		STALE_ARGS+=(--trusted-profiles-enabled=false --env-rm IBMCLOUD_TRUSTED_PROFILE)
	fi
}

deploy_app() {
	# One instance at most: the per-object locks that serialize work on a key or a snapshot,
	# and the cache of IAM policies, live in the process; a second instance would race the
	# first and act on a stale policy list.
	# No --argument: the image's CMD is serve.
	local -a args=(--name "$APP_NAME" "${COMMON_ARGS[@]}" --port "${PORT:-8080}" --min-scale 0 --max-scale "$MAX_SCALE")
	if ((PUBLIC)); then
		args+=(--visibility public)
	else
		args+=(--visibility project)
	fi
	if present ibmcloud ce application get --name "$APP_NAME" --output json; then
		stale_args "$LOOKED_UP"
		run ibmcloud ce application update "${args[@]}" "${STALE_ARGS[@]}"
	else
		run ibmcloud ce application create "${args[@]}"
	fi
}

deploy_job() {
	local -a args=(--name "$JOB_NAME" "${COMMON_ARGS[@]}" --argument job --retrylimit "$JOB_RETRY_LIMIT")
	# The job does not listen, but it gets the same configuration as the app.
	[[ -n ${PORT:-} ]] && args+=(--env "PORT=$PORT")
	if present ibmcloud ce job get --name "$JOB_NAME" --output json; then
		stale_args "$LOOKED_UP"
		run ibmcloud ce job update "${args[@]}" "${STALE_ARGS[@]}"
	else
		run ibmcloud ce job create "${args[@]}"
	fi
}

# remove_stale_secrets deletes the API key secret once the app and the job run as a trusted
# profile: a credential nothing uses should not stay in the project. The event token is kept, so
# that a later --public gives Event Notifications destinations the token they already send.
remove_stale_secrets() {
	if [[ -z $API_KEY_ENV ]] && present ibmcloud ce secret get --name "$CREDENTIALS_SECRET"; then
		run ibmcloud ce secret delete --name "$CREDENTIALS_SECRET" --force
	fi
}

deploy_cron() {
	local -a args=(--name "$CRON_SUB" --destination "$JOB_NAME" --destination-type job
		--schedule "$SCHEDULE" --data "$CRON_DATA")
	if present ibmcloud ce subscription cron get --name "$CRON_SUB"; then
		run ibmcloud ce subscription cron update "${args[@]}"
	else
		run ibmcloud ce subscription cron create "${args[@]}"
	fi
}

deploy_kafka() {
	[[ -n $KAFKA_BROKERS ]] || return 0
	local -a args=(--name "$KAFKA_SUB" --destination "$APP_NAME" --destination-type app
		--secret "$KAFKA_SECRET_NAME" --topic "$KAFKA_TOPIC")
	local -a brokers
	local b
	IFS=, read -r -a brokers <<<"$KAFKA_BROKERS"
	for b in "${brokers[@]}"; do
		[[ -n $b ]] && args+=(--broker "$b")
	done
	if present ibmcloud ce subscription kafka get --name "$KAFKA_SUB"; then
		run ibmcloud ce subscription kafka update "${args[@]}"
	else
		run ibmcloud ce subscription kafka create "${args[@]}"
	fi
}

# Activity Tracker Event Routing routes by location (region, or "global" for account-wide
# services such as tagging and IAM), not by action: the route carries every event of those
# locations, and the app ignores the actions it does not handle (kms.secrets.*,
# hs-crypto.secrets.*, is.snapshot.*, *.tag.*).
routing_locations() {
	printf '%s,global' "${IBMCLOUD_REGIONS:-us-south}"
}

event_streams_guid() {
	local -a parts
	IFS=: read -r -a parts <<<"$EVENT_STREAMS_CRN"
	printf '%s' "${parts[7]:-}"
}

atracker_target_id() {
	if ((PLAN_ONLY)); then
		printf '%s' "<ID of target $ROUTING_NAME>"
		return 0
	fi
	local out id
	out=$(ibmcloud atracker target get --target "$ROUTING_NAME" --output JSON) ||
		fail "could not read Activity Tracker target $ROUTING_NAME"
	# The first "id" of the answer is the target's own.
	id=$(printf '%s\n' "$out" | grep -o '"id"[[:space:]]*:[[:space:]]*"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/' || true)
	[[ -n $id ]] || fail "no id in the answer of 'ibmcloud atracker target get --target $ROUTING_NAME'"
	printf '%s' "$id"
}

setup_routing() {
	local guid out status
	guid=$(event_streams_guid)
	[[ -n $guid ]] || fail "no instance ID in --event-streams-crn '$EVENT_STREAMS_CRN'"
	# Activity Tracker writes to the topic with its own service identity (no API key stored).
	show ibmcloud iam authorization-policy-create atracker messagehub Writer --target-service-instance-id "$guid"
	if ((!PLAN_ONLY)); then
		status=0
		out=$(ibmcloud iam authorization-policy-create atracker messagehub Writer --target-service-instance-id "$guid" 2>&1) || status=$?
		if ((status != 0)); then
			shopt -s nocasematch
			if [[ $out != *"already exists"* && $out != *conflict* && $out != *409* ]]; then
				shopt -u nocasematch
				printf '%s\n' "$out" >&2
				fail "could not authorize Activity Tracker to write to Event Streams instance $guid"
			fi
			shopt -u nocasematch
		fi
	fi
	local -a target=(--target-crn "$EVENT_STREAMS_CRN" --brokers "$KAFKA_BROKERS" --topic "$KAFKA_TOPIC"
		--service-to-service-enabled TRUE)
	if present ibmcloud atracker target get --target "$ROUTING_NAME"; then
		run ibmcloud atracker target update --target "$ROUTING_NAME" "${target[@]}"
	else
		run ibmcloud atracker target create --name "$ROUTING_NAME" --type event_streams "${target[@]}"
	fi
	local id
	id=$(atracker_target_id)
	if present ibmcloud atracker route get --route "$ROUTING_NAME"; then
		# Without --force the CLI asks for confirmation (IBM Cloud docs, atracker CLI, "ibmcloud
		# atracker route update"), which hangs or fails without a terminal.
		run ibmcloud atracker route update --route "$ROUTING_NAME" --target-ids "$id" --locations "$(routing_locations)" --force
	else
		run ibmcloud atracker route create --name "$ROUTING_NAME" --target-ids "$id" --locations "$(routing_locations)"
	fi
}

print_routing_steps() {
	say ""
	if [[ -z $KAFKA_BROKERS ]]; then
		say "No Kafka subscription: only the scheduled full reconcile runs. To react to events within"
		say "seconds, send Activity Tracker events to an Event Streams topic and run again with"
		say "--kafka-brokers, --kafka-topic, --kafka-secret (or KAFKA_PASSWORD) and --setup-routing"
		say "(and without --public: a Kafka subscription cannot send the event token)."
		return 0
	fi
	local crn=${EVENT_STREAMS_CRN:-<CRN of the Event Streams instance>}
	local guid='<Event Streams instance ID>'
	[[ -n $EVENT_STREAMS_CRN ]] && guid=$(event_streams_guid)
	say "Activity Tracker Event Routing must write to topic $KAFKA_TOPIC. Run once (or rerun this"
	say "script with --setup-routing --event-streams-crn CRN); routes select events by location, and"
	say "the app keeps the actions kms.secrets.*, hs-crypto.secrets.*, is.snapshot.* and *.tag.*:"
	say "  $(quote ibmcloud iam authorization-policy-create atracker messagehub Writer --target-service-instance-id "$guid")"
	say "  $(quote ibmcloud atracker target create --name "$ROUTING_NAME" --type event_streams --target-crn "$crn" --brokers "$KAFKA_BROKERS" --topic "$KAFKA_TOPIC" --service-to-service-enabled TRUE)"
	say "  $(quote ibmcloud atracker route create --name "$ROUTING_NAME" --target-ids '<ID printed by target create>' --locations "$(routing_locations)")"
}

# print_permissions lists the access the app's identity needs and the commands that grant it,
# then the access the deployer needs; it grants nothing, since that takes an account
# administrator.
#
# The identity must hold every role it grants: IBM documents that "You must have access to the
# target service to create an authorization between services. You can grant only the level of
# access that you have as a user of the target service." and that "You can remove any
# authorization between services in the account if you are assigned the Administrator role on
# the target service." (Using authorizations to grant access between services,
# https://cloud.ibm.com/docs/account?topic=account-serviceauth, #create-auth and #remove-auth).
# The roles granted come from the templates (internal/authz/templates.go): Reader to Block
# Storage on kms and hs-crypto, plus Authorization Delegator for other accounts
# (KMS_CONSUMER_ACCOUNTS), and Snapshot Remote Account Restorer on is snapshots for the
# accounts in RESTORE_ALLOWED_ACCOUNTS; a role no configured grant uses is not asked for.
# Administrator also carries the platform Viewer that listing instances, snapshots and the
# authorizations themselves needs. Role names are IAM's display names, as --roles takes them.
#
# 'snapshotId=*' is the form IBM documents for "every resource of this VPC type" with this
# command ("ibmcloud iam user-policy-create ... --service-name is --attributes instanceId=*",
# IBM Cloud CLI reference, ibmcloud iam commands; "vpcId=*", VPC docs, "Assigning access with
# resource attributes").
print_permissions() {
	local who
	local -a cmd
	if [[ -n $TRUSTED_PROFILE ]]; then
		who="trusted profile $TRUSTED_PROFILE"
		cmd=(ibmcloud iam trusted-profile-policy-create "$TRUSTED_PROFILE")
	else
		who="the owner of the API key in \$$API_KEY_ENV (a service ID is best)"
		cmd=(ibmcloud iam service-policy-create '<SERVICE_ID>')
	fi
	local kms_roles='Administrator,Reader' is_roles=Viewer
	[[ -n ${KMS_CONSUMER_ACCOUNTS:-} ]] && kms_roles+=',Authorization Delegator'
	[[ -n ${RESTORE_ALLOWED_ACCOUNTS:-} ]] && is_roles='Administrator,Snapshot Remote Account Restorer'
	say ""
	say "IAM access that $who needs (it must hold each role it grants):"
	say "  on kms and hs-crypto    Administrator (find instances, delete the authorizations it made),"
	say "                          Reader (read keys; granted to Block Storage)"
	if [[ -n ${KMS_CONSUMER_ACCOUNTS:-} ]]; then
		say "                          Authorization Delegator (granted to the KMS_CONSUMER_ACCOUNTS)"
	fi
	if [[ -n ${RESTORE_ALLOWED_ACCOUNTS:-} ]]; then
		say "  on is snapshots         Administrator (read snapshots and tags, delete restore authorizations),"
		say "                          Snapshot Remote Account Restorer (granted to RESTORE_ALLOWED_ACCOUNTS)"
	else
		say "  on is snapshots         Viewer (read snapshots and tags; no RESTORE_ALLOWED_ACCOUNTS: no restore grants)"
	fi
	# Backup for VPC's grants name every volume, instance, snapshot and consistency group (and
	# share) of the account (ibm-cloud-docs/vpc backup_service_vpc_s2s_auth.md), so the identity
	# holds their roles on the whole is service; Administrator also lists backup policies and
	# removes the grants when the last backup policy goes.
	local backup_roles=
	if [[ ${BACKUP_AUTHORIZATIONS:-auto} != never ]]; then
		backup_roles='Administrator,Operator,Editor'
		[[ ${BACKUP_SHARES:-false} == true ]] && backup_roles+=',Share Snapshot Operator'
		say "  on is (every resource)  Administrator, Operator, Editor (Backup for VPC's grants; list backup policies)"
		if [[ ${BACKUP_SHARES:-false} == true ]]; then
			say "                          Share Snapshot Operator (file share backups)"
		fi
	fi
	say "  on resource groups      Viewer (find KMS instances)"
	# The account comes from the IAM token's account.bss claim: no identity look-up, no role.
	say "Granted by an account administrator with:"
	say "  $(quote "${cmd[@]}" --roles "$kms_roles" --service-name kms)"
	say "  $(quote "${cmd[@]}" --roles "$kms_roles" --service-name hs-crypto)"
	say "  $(quote "${cmd[@]}" --roles "$is_roles" --service-name is --attributes 'snapshotId=*')"
	if [[ -n $backup_roles ]]; then
		say "  $(quote "${cmd[@]}" --roles "$backup_roles" --service-name is)"
	fi
	say "  $(quote "${cmd[@]}" --roles Viewer --resource-type resource-group)"
	say ""
	say "You, the deployer, need: Writer on the Code Engine project (Administrator to create it);"
	if [[ -n $BUILD_SOURCE ]]; then
		# Code Engine docs, "Setting up authorities for image registries": the automatically
		# created registry secret needs these on Container Registry.
		say "  for the build, Administrator and Manager (with Reader, Writer) on container-registry;"
	fi
	if [[ -n $TRUSTED_PROFILE ]]; then
		say "  for the trusted profile and its links, Administrator on iam-identity;"
	fi
	if ((SETUP_ROUTING)) || [[ -n $KAFKA_BROKERS ]]; then
		say "  for the Activity Tracker route, Administrator on atracker and on the Event Streams"
		say "  instance (messagehub) that it writes to;"
	fi
	say "  nothing else: the app and the job act with their own identity."
}

print_summary() {
	print_permissions
	((SETUP_ROUTING)) || print_routing_steps
	say ""
	say "URL of the app: ibmcloud ce application get --name $APP_NAME --output url"
	if ((PUBLIC)) || [[ -n ${EVENT_AUTH_TOKEN:-} ]]; then
		say "Event token for Event Notifications destinations: ibmcloud ce secret get --name $EVENT_TOKEN_SECRET --decode"
	fi
	say "Run a full reconcile now: ibmcloud ce jobrun submit --job $JOB_NAME"
	if ((ACTION_NEEDED)); then
		warn "deployed, but the trusted profile still needs the commands printed above"
	fi
}

delete_if_present() {
	local kind=$1 name=$2
	local -a words
	read -r -a words <<<"$kind"
	if present ibmcloud ce "${words[@]}" get --name "$name"; then
		run ibmcloud ce "${words[@]}" delete --name "$name" --force
	fi
}

delete_all() {
	select_project
	delete_if_present "subscription kafka" "$KAFKA_SUB"
	delete_if_present "subscription cron" "$CRON_SUB"
	delete_if_present application "$APP_NAME"
	delete_if_present job "$JOB_NAME"
	local s
	for s in "$CREDENTIALS_SECRET" "$EVENT_TOKEN_SECRET" "$KAFKA_SECRET_DEFAULT"; do
		delete_if_present secret "$s"
	done
	if ((SETUP_ROUTING)); then
		if present ibmcloud atracker route get --route "$ROUTING_NAME"; then
			run ibmcloud atracker route rm --route "$ROUTING_NAME" --force
		fi
		if present ibmcloud atracker target get --target "$ROUTING_NAME"; then
			run ibmcloud atracker target rm --target "$ROUTING_NAME" --force
		fi
	fi
	if ((DELETE_PROJECT)); then
		run ibmcloud ce project delete --name "$PROJECT" --force
	fi
	say ""
	say "A trusted profile is never deleted here; remove one with: ibmcloud iam trusted-profile-delete NAME"
}

cleanup() {
	if [[ -n $WORK ]]; then
		rm -rf "$WORK"
	fi
}

main() {
	SCRIPT_DIR=${BASH_SOURCE[0]%/*}
	[[ $SCRIPT_DIR == "${BASH_SOURCE[0]}" ]] && SCRIPT_DIR=.
	SCRIPT_DIR=$(cd "$SCRIPT_DIR" && pwd)

	parse_args "$@"
	validate
	((DELETE)) && confirm_delete
	check_prerequisites

	trap cleanup EXIT
	umask 077
	WORK=$(mktemp -d)

	if ((PLAN_ONLY)); then
		say "# dry run: nothing is called; existing resources are assumed $( ((DELETE)) && echo present || echo missing)"
	fi
	if ((DELETE)); then
		delete_all
		return 0
	fi
	select_project
	ensure_secrets
	[[ -n $TRUSTED_PROFILE ]] && ensure_trusted_profile
	[[ -n $BUILD_SOURCE ]] && build_image
	build_common_args
	deploy_app
	deploy_job
	remove_stale_secrets
	deploy_cron
	deploy_kafka
	((SETUP_ROUTING)) && setup_routing
	print_summary
}

main "$@"
