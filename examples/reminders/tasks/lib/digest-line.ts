// Helpers live in a subfolder: pgmill loads only the files directly in tasks/.
export function digestLine(team: string, day: string): string {
  return `${team}: your digest for ${day}`;
}
