// Package robot implements the chat robots Alertmanager has no integration
// for: DingTalk custom robots, Feishu/Lark custom bots and WeCom group
// robots. Each is a notifier with Alertmanager's Notify signature, built
// from a config that follows Alertmanager's schema conventions, rendered
// with Alertmanager's templates, signed as the service requires, split to
// the service's size limit ("part i of n", no alert dropped) and, for
// DingTalk, paced to the robot's rate limit.
package robot
