// build.mjs inlines widget.css, minified, as a string.
declare module '*.css' {
  const css: string;
  export default css;
}
