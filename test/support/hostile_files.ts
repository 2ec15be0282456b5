/**
 * Hostile inputs, built the way the attacks of issue #12 built them, shared by the unit and
 * wire tests.
 */

/**
 * The "billion laughs" pipeline: 9 anchors, each a list of 9 aliases of the one before, so the
 * last expands to 9^8 copies of the first (~1 KB of YAML, hundreds of MB as JSON). It is a
 * well-formed workflow: only its expansion is hostile.
 */
export function aliasBombYaml(levels = 9, fanout = 9): string {
  const names = Array.from({ length: levels }, (_, i) => `l${i}`);
  let text = `workflow:\n  name: bomb\n  steps:\n    - name: s\n      type: claude\n      prompt:\n        - type: static\n          content: hi\n  x_bomb:\n`;
  text += `    ${names[0]}: &${names[0]} [${Array(fanout).fill('"lol"').join(',')}]\n`;
  for (let i = 1; i < levels; i++) text += `    ${names[i]}: &${names[i]} [${Array(fanout).fill(`*${names[i - 1]}`).join(',')}]\n`;
  return text;
}
