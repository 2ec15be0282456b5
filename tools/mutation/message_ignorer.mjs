// A Stryker ignorer: mutants inside the text of a log line, of a thrown error's message or of
// a progress event's `message` are not counted. Their wording is for people; tests that pinned it would only pin wording.
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const LOG_METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

function isLogCall(node) {
  // logger.warn(...) and logger?.warn(...) (an optional call on an optional member).
  if (node.type !== 'CallExpression' && node.type !== 'OptionalCallExpression') return false;
  if (node.callee.type !== 'MemberExpression' && node.callee.type !== 'OptionalMemberExpression') return false;
  const prop = node.callee.property;
  if (prop.type !== 'Identifier' || !LOG_METHODS.has(prop.name)) return false;
  // logger.warn(...), this.log.info(...), log?.debug(...): any receiver named like a logger.
  const obj = node.callee.object;
  const member = obj.type === 'MemberExpression' || obj.type === 'OptionalMemberExpression';
  const name = obj.type === 'Identifier' ? obj.name : member && obj.property.type === 'Identifier' ? obj.property.name : '';
  return /log/i.test(name);
}

function isErrorConstruction(node) {
  return node.type === 'NewExpression' && node.callee.type === 'Identifier' && /Error$/.test(node.callee.name);
}

function isMessageProperty(node) {
  if (node.type !== 'ObjectProperty' || node.computed) return false;
  const key = node.key;
  return (key.type === 'Identifier' && key.name === 'message') || (key.type === 'StringLiteral' && key.value === 'message');
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'log-and-error-messages', {
    shouldIgnore(path) {
      // Only message text: string and template literals (and their concatenations) that are
      // arguments of a log call or an error constructor.
      if (!path.isStringLiteral() && !path.isTemplateLiteral() && !path.isBinaryExpression()) return undefined;
      const parent = path.parentPath;
      if (!parent) return undefined;
      if ((isLogCall(parent.node) || isErrorConstruction(parent.node)) && parent.node.arguments.includes(path.node)) {
        return 'log or error message text';
      }
      // A progress event's `message: '...'`: text shown to people, as a log line is.
      if (isMessageProperty(parent.node) && parent.node.value === path.node) return 'progress message text';
      return undefined;
    },
  }),
];
