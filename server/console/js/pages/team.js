// Placeholder until the page lands.
export const title = 'nav.home';
export async function render() {
  return document.createElement('section');
}
