/**
 * JSON trees read and written with Jackson's streaming parser and generator alone: {@link
 * io.overlay.core.json.JsonTrees}.
 */
package io.overlay.core.json;
