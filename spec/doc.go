// Package spec owns Gantry's resource documents: the Listener and TargetGroup
// types (ALB's shape) and the TaskDefinition and Service types (ECS's shape),
// decoding YAML (multi-document) and JSON with the line and column of every
// node (Decode, Load), ALB's and ECS's defaults applied in one place
// (SetDefaults), effective-value accessors for both planes, encoding back to
// YAML and JSON, and validation that reports every problem at once with its
// position (Validate, ValidateSet, ValidateServices).
//
// ECS JSON is accepted as the AWS CLI prints it: fields Gantry does not use
// are reported as Warnings on the Document, never dropped silently, while
// keys that are neither Gantry's nor ECS's are errors. memberOf placement
// expressions (ECS's cluster query language) are parsed by ParseExpression.
//
// It must never do I/O beyond reading the files Load is asked to read, and
// never import another Gantry package: both planes import it.
package spec
