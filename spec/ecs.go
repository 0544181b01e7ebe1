package spec

import (
	"cmp"
	"slices"
)

// Warning is a located note about a document that does not stop it from
// applying. Decode records one for every ECS field Gantry accepts but does not
// use, so that nothing is dropped silently.
type Warning struct {
	// Pos is where the key stands.
	Pos Position `json:"pos"`
	// Path is the field path, such as "containerDefinitions[0].logConfiguration".
	Path string `json:"path,omitempty"`
	// Msg says what Gantry does with the field.
	Msg string `json:"message"`
}

// String formats the warning as "file:line:col: path: msg".
func (w Warning) String() string {
	e := Error(w)
	return e.Error()
}

// Warnings gathers the warnings of every document, sorted by position.
func Warnings(docs []Document) []Warning {
	var out []Warning
	for _, d := range docs {
		out = append(out, d.Warnings...)
	}
	slices.SortStableFunc(out, func(a, b Warning) int {
		return cmp.Or(a.Pos.compare(b.Pos), cmp.Compare(a.Path, b.Path))
	})
	return out
}

// ecsShaped is a type decoded from ECS JSON: it names the ECS fields Gantry
// accepts without using them. Any other unknown key stays an error.
type ecsShaped interface {
	ecsIgnored(key string) bool
}

// ECS fields Gantry ignores, per object, from the ECS API reference
// (RegisterTaskDefinition, DescribeTaskDefinition, CreateService,
// DescribeServices). Fields that only describe the resource's state in ECS
// (ARNs, revision, status, timestamps, counts, events) are among them.
var (
	ecsTaskDefinitionIgnored = set(
		"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
		"registeredAt", "registeredBy", "deregisteredAt", "taskRoleArn", "executionRoleArn",
		"networkMode", "requiresCompatibilities", "volumes", "pidMode", "ipcMode",
		"proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform",
		"enableFaultInjection", "tags")
	ecsContainerIgnored = set(
		"repositoryCredentials", "links", "restartPolicy", "environmentFiles", "mountPoints",
		"volumesFrom", "linuxParameters", "secrets", "dependsOn", "startTimeout",
		"versionConsistency", "hostname", "user", "workingDirectory", "disableNetworking",
		"privileged", "readonlyRootFilesystem", "dnsServers", "dnsSearchDomains", "extraHosts",
		"dockerSecurityOptions", "interactive", "pseudoTerminal", "dockerLabels", "ulimits",
		"logConfiguration", "systemControls", "resourceRequirements", "firelensConfiguration",
		"credentialSpecs", "gpu")
	ecsPortMappingIgnored = set("name", "appProtocol", "containerPortRange", "hostPortRange")
	ecsServiceIgnored     = set(
		"cluster", "serviceArn", "clusterArn", "status", "runningCount", "pendingCount",
		"launchType", "capacityProviderStrategy", "platformVersion", "platformFamily", "role",
		"roleArn", "networkConfiguration", "serviceRegistries", "schedulingStrategy",
		"deploymentController", "deployments", "taskSets", "events", "createdAt", "createdBy",
		"clientToken", "tags", "enableECSManagedTags", "propagateTags", "enableExecuteCommand",
		"serviceConnectConfiguration", "volumeConfigurations", "vpcLatticeConfigurations",
		"availabilityZoneRebalancing", "currentServiceDeployment", "currentServiceRevisions",
		"resourceManagementType")
	ecsLoadBalancerIgnored = set("loadBalancerName")
	ecsDeploymentIgnored   = set("alarms", "strategy", "bakeTimeInMinutes", "lifecycleHooks",
		"linearConfiguration", "canaryConfiguration")
	ecsCircuitBreakerIgnored = set("thresholdConfiguration")
	// ecsWrapperIgnored are the keys beside "taskDefinition" in the output of
	// "aws ecs describe-task-definition".
	ecsWrapperIgnored = set("tags")
)

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func (*TaskDefinition) ecsIgnored(k string) bool      { return ecsTaskDefinitionIgnored[k] }
func (*ContainerDefinition) ecsIgnored(k string) bool { return ecsContainerIgnored[k] }
func (*PortMapping) ecsIgnored(k string) bool         { return ecsPortMappingIgnored[k] }
func (*Service) ecsIgnored(k string) bool             { return ecsServiceIgnored[k] }
func (*LoadBalancer) ecsIgnored(k string) bool        { return ecsLoadBalancerIgnored[k] }
func (*DeploymentConfiguration) ecsIgnored(k string) bool {
	return ecsDeploymentIgnored[k]
}
func (*CircuitBreaker) ecsIgnored(k string) bool { return ecsCircuitBreakerIgnored[k] }
