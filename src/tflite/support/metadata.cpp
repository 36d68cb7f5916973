#include "tflite/support/metadata.h"

#include <unzip.h>
#include <zip.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "metadata_schema_subset_generated.h"
#include "core/utf8.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {
namespace {

// ---- minizip over memory: the I/O callbacks TFLite Support's ZipWritableMemFile and
// ZipReadOnlyMemFile give minizip, so the archive is read and written in a string. ----

struct MemFile {
  std::string bytes;        // writable: the whole file
  std::string_view view;    // read-only: the whole file (when bytes is unused)
  uint64_t position = 0;
  bool writable = false;
  size_t size() const { return writable ? bytes.size() : view.size(); }
  const char* data() const { return writable ? bytes.data() : view.data(); }
};

voidpf ZCALLBACK mem_open(voidpf opaque, const void*, int) { return opaque; }

uLong ZCALLBACK mem_read(voidpf, voidpf stream, void* buf, uLong size) {
  auto* f = static_cast<MemFile*>(stream);
  if (f->position >= f->size()) return 0;
  uLong n = static_cast<uLong>(std::min<uint64_t>(size, f->size() - f->position));
  std::memcpy(buf, f->data() + f->position, n);
  f->position += n;
  return n;
}

uLong ZCALLBACK mem_write(voidpf, voidpf stream, const void* buf, uLong size) {
  auto* f = static_cast<MemFile*>(stream);
  if (!f->writable) return 0;
  if (f->position > f->bytes.size()) f->bytes.resize(f->position, '\0');
  const auto* p = static_cast<const char*>(buf);
  size_t overlap = std::min<size_t>(size, f->bytes.size() - f->position);
  f->bytes.replace(f->position, overlap, p, size);
  f->position += size;
  return size;
}

ZPOS64_T ZCALLBACK mem_tell(voidpf, voidpf stream) { return static_cast<MemFile*>(stream)->position; }

long ZCALLBACK mem_seek(voidpf, voidpf stream, ZPOS64_T offset, int origin) {
  auto* f = static_cast<MemFile*>(stream);
  uint64_t base = origin == ZLIB_FILEFUNC_SEEK_SET ? 0 : origin == ZLIB_FILEFUNC_SEEK_CUR ? f->position : f->size();
  uint64_t target = base + offset;
  if (target > f->size() && !f->writable) return -1;
  f->position = target;
  return 0;
}

int ZCALLBACK mem_close(voidpf, voidpf) { return 0; }
int ZCALLBACK mem_error(voidpf, voidpf) { return 0; }

zlib_filefunc64_def mem_functions(MemFile* file) {
  zlib_filefunc64_def def{};
  def.zopen64_file = mem_open;
  def.zread_file = mem_read;
  def.zwrite_file = mem_write;
  def.ztell64_file = mem_tell;
  def.zseek64_file = mem_seek;
  def.zclose_file = mem_close;
  def.zerror_file = mem_error;
  def.opaque = file;
  return def;
}

// `model` followed by a zip archive of `files`, each stored (method 0, as the Task Library's
// extractor requires) with a fixed date so that a conversion is reproducible byte for byte.
std::string append_zip(const std::string& model, const std::vector<std::pair<std::string, std::string>>& files, const std::string& origin) {
  MemFile file;
  file.bytes = model;
  file.writable = true;
  zlib_filefunc64_def def = mem_functions(&file);
  zipFile zf = zipOpen2_64(nullptr, APPEND_STATUS_CREATEAFTER, nullptr, &def);
  if (!zf) fail("{}: minizip could not start the associated files' zip archive", origin);
  for (const auto& [name, contents] : files) {
    zip_fileinfo info{};
    info.tmz_date.tm_year = 1980;
    info.tmz_date.tm_mon = 0;
    info.tmz_date.tm_mday = 1;
    bool ok = zipOpenNewFileInZip64(zf, name.c_str(), &info, nullptr, 0, nullptr, 0, nullptr, /*method=*/0, Z_DEFAULT_COMPRESSION, /*zip64=*/0) == ZIP_OK &&
              zipWriteInFileInZip(zf, contents.data(), static_cast<unsigned>(contents.size())) == ZIP_OK && zipCloseFileInZip(zf) == ZIP_OK;
    if (!ok) {
      zipClose(zf, nullptr);
      fail("{}: minizip could not write '{}' into the associated files' zip archive", origin, name);
    }
  }
  if (zipClose(zf, nullptr) != ZIP_OK) fail("{}: minizip could not finish the associated files' zip archive", origin);
  return std::move(file.bytes);
}

const ::tflite::Model* verified_model(std::string_view model, const std::string& origin) {
  auto* data = reinterpret_cast<const uint8_t*>(model.data());
  if (model.size() < 8 || !::tflite::ModelBufferHasIdentifier(data)) fail("{}: not a TensorFlow Lite model (no TFL3 file identifier)", origin);
  // The whole file, as TFLite's FlatBufferModel verifies it: bytes after the flatbuffer (the
  // associated files' zip archive) lie outside every offset and are never read.
  flatbuffers::Verifier verifier(data, model.size());
  if (!::tflite::VerifyModelBuffer(verifier)) fail("{}: corrupt TensorFlow Lite flatbuffer (verification failed)", origin);
  return ::tflite::GetModel(data);
}

// The TFLITE_METADATA buffer's bytes, or nullopt.
std::optional<std::string_view> metadata_buffer(const ::tflite::Model* model, const std::string& origin) {
  if (!model->metadata()) return std::nullopt;
  for (const auto* m : *model->metadata()) {
    if (!m->name() || m->name()->str() != kMetadataBufferName) continue;
    if (!model->buffers() || m->buffer() >= model->buffers()->size()) {
      fail("{}: {} refers to buffer {}, which the model does not have", origin, kMetadataBufferName, m->buffer());
    }
    const auto* data = model->buffers()->Get(m->buffer())->data();
    if (!data) fail("{}: {} buffer {} is empty", origin, kMetadataBufferName, m->buffer());
    return std::string_view(reinterpret_cast<const char*>(data->data()), data->size());
  }
  return std::nullopt;
}

const ::tflite::ModelMetadata* verified_metadata(std::string_view buffer, const std::string& origin) {
  auto* data = reinterpret_cast<const uint8_t*>(buffer.data());
  if (buffer.size() < 8 || !::tflite::ModelMetadataBufferHasIdentifier(data)) {
    fail("{}: {} is not a TFLite Support ModelMetadata flatbuffer (file identifier {} expected)", origin, kMetadataBufferName,
         ::tflite::ModelMetadataIdentifier());
  }
  flatbuffers::Verifier verifier(data, buffer.size());
  if (!::tflite::VerifyModelMetadataBuffer(verifier)) fail("{}: corrupt {} flatbuffer (verification failed)", origin, kMetadataBufferName);
  return ::tflite::GetModelMetadata(data);
}

std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

AssociatedFileInfo file_info(const ::tflite::AssociatedFile* f) {
  const char* type = ::tflite::EnumNameAssociatedFileType(f->type());
  return {str(f->name()), str(f->description()), *type ? type : fmt::format("type {}", static_cast<int>(f->type())), str(f->locale()),
          str(f->version())};
}

std::vector<AssociatedFileInfo> files_of(const flatbuffers::Vector<flatbuffers::Offset<::tflite::AssociatedFile>>* files) {
  std::vector<AssociatedFileInfo> out;
  if (files) for (const auto* f : *files) out.push_back(file_info(f));
  return out;
}

TensorMetadataInfo tensor_info(const ::tflite::TensorMetadata* t) {
  TensorMetadataInfo info{str(t->name()), str(t->description()), "", {}, {}, files_of(t->associated_files())};
  if (t->content() && t->content()->content_properties_type() != ::tflite::ContentProperties_NONE) {
    const char* name = ::tflite::EnumNameContentProperties(t->content()->content_properties_type());
    info.content = *name ? name : "unknown";
  }
  if (t->stats()) {
    if (t->stats()->min()) info.min.assign(t->stats()->min()->begin(), t->stats()->min()->end());
    if (t->stats()->max()) info.max.assign(t->stats()->max()->begin(), t->stats()->max()->end());
  }
  return info;
}

// ---- min_parser_version, following TFLite Support's metadata_version.cc: every schema member
// added after 1.0.0 that the buffer uses raises the version to the one it was added in. ----

using Version = std::array<int, 3>;

template <typename T>
void for_each(const flatbuffers::Vector<flatbuffers::Offset<T>>* v, const std::function<void(const T*)>& fn) {
  if (v) for (const auto* x : *v) if (x) fn(x);
}

Version parser_version(const ::tflite::ModelMetadata* m) {
  Version v = {1, 0, 0};
  auto raise = [&](Version w) { v = std::max(v, w); };
  auto file = [&](const ::tflite::AssociatedFile* f) {
    if (f->type() == ::tflite::AssociatedFileType_VOCABULARY) raise({1, 0, 1});
    if (f->type() == ::tflite::AssociatedFileType_SCANN_INDEX_FILE) raise({1, 4, 0});
    if (f->version()) raise({1, 4, 1});
  };
  // Tokenizer options (union positions 4, 5: 1.1.0; 6: 1.2.1) are outside the subset; their
  // type values still count.
  auto unit = [&](const ::tflite::ProcessUnit* u) {
    int type = static_cast<int>(u->options_type());
    if (type == 4 || type == 5) raise({1, 1, 0});
    if (type == 6) raise({1, 2, 1});
  };
  auto tensor = [&](const ::tflite::TensorMetadata* t) {
    for_each<::tflite::AssociatedFile>(t->associated_files(), file);
    for_each<::tflite::ProcessUnit>(t->process_units(), unit);
    if (t->content() && t->content()->content_properties_type() == ::tflite::ContentProperties_AudioProperties) raise({1, 3, 0});
  };
  for_each<::tflite::SubGraphMetadata>(m->subgraph_metadata(), [&](const ::tflite::SubGraphMetadata* g) {
    for_each<::tflite::TensorMetadata>(g->input_tensor_metadata(), tensor);
    for_each<::tflite::TensorMetadata>(g->output_tensor_metadata(), tensor);
    for_each<::tflite::AssociatedFile>(g->associated_files(), file);
    if (g->input_process_units() || g->output_process_units()) raise({1, 1, 0});
    for_each<::tflite::ProcessUnit>(g->input_process_units(), unit);
    for_each<::tflite::ProcessUnit>(g->output_process_units(), unit);
    if (g->input_tensor_groups() || g->output_tensor_groups()) raise({1, 2, 0});
    if (g->custom_metadata()) raise({1, 5, 0});
  });
  for_each<::tflite::AssociatedFile>(m->associated_files(), file);
  return v;
}

std::string pack_metadata(const ::tflite::ModelMetadataT& metadata) {
  flatbuffers::FlatBufferBuilder fbb;
  ::tflite::FinishModelMetadataBuffer(fbb, ::tflite::ModelMetadata::Pack(fbb, &metadata));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

int builtin_of(const ::tflite::ModelT& model, const ::tflite::OperatorT& op) {
  const auto& code = model.operator_codes.at(op.opcode_index);
  return std::max<int>(code->deprecated_builtin_code, static_cast<int>(code->builtin_code));
}

// Whether `tensor` comes out of a SOFTMAX or LOGISTIC (possibly through a DEQUANTIZE): the
// output is then a probability in [0, 1].
bool is_probability(const ::tflite::ModelT& model, const ::tflite::SubGraphT& graph, int32_t tensor) {
  for (int hops = 0; hops < 2; ++hops) {
    const ::tflite::OperatorT* producer = nullptr;
    for (const auto& op : graph.operators)
      if (std::find(op->outputs.begin(), op->outputs.end(), tensor) != op->outputs.end()) producer = op.get();
    if (!producer) return false;
    int code = builtin_of(model, *producer);
    if (code == ::tflite::BuiltinOperator_SOFTMAX || code == ::tflite::BuiltinOperator_LOGISTIC) return true;
    if (code != ::tflite::BuiltinOperator_DEQUANTIZE || producer->inputs.empty()) return false;
    tensor = producer->inputs[0];
  }
  return false;
}

std::unique_ptr<::tflite::TensorMetadataT> feature_tensor(const std::string& name, const std::string& description) {
  auto t = std::make_unique<::tflite::TensorMetadataT>();
  t->name = name;
  t->description = description;
  t->content = std::make_unique<::tflite::ContentT>();
  t->content->content_properties.Set(::tflite::FeaturePropertiesT{});
  t->stats = std::make_unique<::tflite::StatsT>();
  return t;
}

}  // namespace

std::string min_metadata_parser_version(std::string_view metadata_buffer) {
  Version v = parser_version(verified_metadata(metadata_buffer, "ModelMetadata"));
  return fmt::format("{}.{}.{}", v[0], v[1], v[2]);
}

std::string populate_metadata(const std::string& model, const std::string& metadata_buffer,
                              const std::vector<std::pair<std::string, std::string>>& files, const std::string& origin) {
  const ::tflite::Model* packed = verified_model(model, origin);
  const ::tflite::ModelMetadata* checked = verified_metadata(metadata_buffer, origin);
  std::unique_ptr<::tflite::ModelT> m(packed->UnPack());
  // The MetadataPopulator's checks: one SubGraphMetadata, one TensorMetadata per subgraph input
  // and output, and every file the metadata names is packed.
  if (m->subgraphs.size() != 1) fail("{}: metadata is written for single-subgraph models, this one has {}", origin, m->subgraphs.size());
  if (!checked->subgraph_metadata() || checked->subgraph_metadata()->size() != 1) {
    fail("{}: the number of SubgraphMetadata should be exactly one", origin);
  }
  const auto* g = checked->subgraph_metadata()->Get(0);
  size_t inputs = g->input_tensor_metadata() ? g->input_tensor_metadata()->size() : 0;
  size_t outputs = g->output_tensor_metadata() ? g->output_tensor_metadata()->size() : 0;
  if (inputs != m->subgraphs[0]->inputs.size() || outputs != m->subgraphs[0]->outputs.size()) {
    fail("{}: the model has {} inputs and {} outputs, the metadata describes {} and {}", origin, m->subgraphs[0]->inputs.size(),
         m->subgraphs[0]->outputs.size(), inputs, outputs);
  }
  std::map<std::string, std::string> packed_files = read_associated_files(model, origin);
  for (const auto& [name, contents] : files) packed_files[name] = contents;
  std::vector<std::string> recorded;
  auto record = [&](const flatbuffers::Vector<flatbuffers::Offset<::tflite::AssociatedFile>>* list) {
    for_each<::tflite::AssociatedFile>(list, [&](const ::tflite::AssociatedFile* f) { recorded.push_back(str(f->name())); });
  };
  record(checked->associated_files());
  record(g->associated_files());
  for_each<::tflite::TensorMetadata>(g->input_tensor_metadata(), [&](const ::tflite::TensorMetadata* t) { record(t->associated_files()); });
  for_each<::tflite::TensorMetadata>(g->output_tensor_metadata(), [&](const ::tflite::TensorMetadata* t) { record(t->associated_files()); });
  for (const auto& name : recorded) {
    if (!packed_files.count(name)) fail("{}: file '{}' is recorded in the metadata, but is not packed into the model", origin, name);
  }
  // As the populator: the buffer gets the minimum parser version of what it uses.
  std::unique_ptr<::tflite::ModelMetadataT> md(checked->UnPack());
  md->min_parser_version = min_metadata_parser_version(metadata_buffer);
  std::string buffer = pack_metadata(*md);

  auto data = std::make_unique<::tflite::BufferT>();
  data->data.assign(buffer.begin(), buffer.end());
  bool replaced = false;
  for (const auto& entry : m->metadata) {
    if (entry->name != kMetadataBufferName) continue;
    m->buffers.at(entry->buffer) = std::move(data);
    replaced = true;
    break;
  }
  if (!replaced) {
    m->buffers.push_back(std::move(data));
    auto entry = std::make_unique<::tflite::MetadataT>();
    entry->name = kMetadataBufferName;
    entry->buffer = static_cast<uint32_t>(m->buffers.size() - 1);
    m->metadata.push_back(std::move(entry));
  }
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(::tflite::Model::Pack(fbb, m.get()), ::tflite::ModelIdentifier());
  std::string flatbuffer(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  if (packed_files.empty()) return flatbuffer;
  return append_zip(flatbuffer, {packed_files.begin(), packed_files.end()}, origin);
}

std::string populate_classifier_metadata(const std::string& model, const ClassifierMetadata& metadata, const std::string& origin) {
  const ::tflite::Model* packed = verified_model(model, origin);
  if (metadata.class_names.empty()) fail("{}: no class names to write", origin);
  for (const auto& name : metadata.class_names) {
    if (name.find_first_of("\r\n") != std::string::npos) {
      fail("{}: class name '{}' holds a line break; {} has one class name per line", origin, name, kLabelFileName);
    }
  }
  std::unique_ptr<::tflite::ModelT> m(packed->UnPack());
  if (m->subgraphs.size() != 1) fail("{}: metadata is written for single-subgraph models, this one has {}", origin, m->subgraphs.size());
  const ::tflite::SubGraphT& graph = *m->subgraphs[0];
  // SignatureDef names of the subgraph's tensors (the serving inputs and outputs).
  std::map<int32_t, std::string> input_names, output_names;
  for (const auto& sig : m->signature_defs) {
    for (const auto& t : sig->inputs) input_names.emplace(static_cast<int32_t>(t->tensor_index), t->name);
    for (const auto& t : sig->outputs) output_names.emplace(static_cast<int32_t>(t->tensor_index), t->name);
  }
  const auto classes = static_cast<int32_t>(metadata.class_names.size());
  auto last_dim = [&](int32_t index) {
    const auto& t = *graph.tensors.at(static_cast<size_t>(index));
    return t.shape.empty() ? -1 : t.shape.back();
  };
  size_t labeled = graph.outputs.size();
  for (size_t o = 0; o < graph.outputs.size() && labeled == graph.outputs.size(); ++o)
    if (last_dim(graph.outputs[o]) == classes) labeled = o;
  if (labeled == graph.outputs.size()) fail("{}: {} class names, but no output has {} values per example", origin, classes, classes);

  auto subgraph = std::make_unique<::tflite::SubGraphMetadataT>();
  for (int32_t index : graph.inputs) {
    const auto& t = *graph.tensors.at(static_cast<size_t>(index));
    std::string name = input_names.count(index) ? input_names[index] : t.name;
    subgraph->input_tensor_metadata.push_back(feature_tensor(name, fmt::format("Input feature '{}' (tensor {}).", name, t.name)));
  }
  for (size_t o = 0; o < graph.outputs.size(); ++o) {
    int32_t index = graph.outputs[o];
    const auto& t = *graph.tensors.at(static_cast<size_t>(index));
    if (o != labeled) {
      std::string name = output_names.count(index) ? output_names[index] : t.name;
      subgraph->output_tensor_metadata.push_back(feature_tensor(name, fmt::format("Output '{}' (tensor {}).", name, t.name)));
      continue;
    }
    // TFLite Support's ClassificationTensorMd: "probability", stats [0, 1] for float32 ([0, 255]
    // for uint8), the label file as TENSOR_AXIS_LABELS (its LabelFileMd description).
    bool probability = is_probability(*m, graph, index);
    auto out = feature_tensor("probability", probability ? "Probabilities of the labels respectively." : "Scores of the labels respectively.");
    if (probability && (t.type == ::tflite::TensorType_FLOAT32 || t.type == ::tflite::TensorType_UINT8)) {
      out->stats->min = {0.0f};
      out->stats->max = {t.type == ::tflite::TensorType_UINT8 ? 255.0f : 1.0f};
    }
    auto labels = std::make_unique<::tflite::AssociatedFileT>();
    labels->name = kLabelFileName;
    labels->description = "Labels for categories that the model can recognize.";
    labels->type = ::tflite::AssociatedFileType_TENSOR_AXIS_LABELS;
    out->associated_files.push_back(std::move(labels));
    subgraph->output_tensor_metadata.push_back(std::move(out));
  }
  ::tflite::ModelMetadataT md;
  md.name = metadata.name;
  md.description = metadata.description;
  md.version = metadata.version;
  md.author = metadata.author;
  md.license = metadata.license;
  md.subgraph_metadata.push_back(std::move(subgraph));
  std::string labels;
  for (const auto& name : metadata.class_names) labels += name + "\n";
  return populate_metadata(model, pack_metadata(md), {{kLabelFileName, labels}}, origin);
}

std::optional<ModelMetadataInfo> read_model_metadata(std::string_view model, const std::string& origin) {
  auto buffer = metadata_buffer(verified_model(model, origin), origin);
  if (!buffer) return std::nullopt;
  const ::tflite::ModelMetadata* m = verified_metadata(*buffer, origin);
  ModelMetadataInfo info;
  info.name = str(m->name());
  info.description = str(m->description());
  info.version = str(m->version());
  info.author = str(m->author());
  info.license = str(m->license());
  info.min_parser_version = str(m->min_parser_version());
  info.associated_files = files_of(m->associated_files());
  if (m->subgraph_metadata() && m->subgraph_metadata()->size() > 0) {
    const auto* g = m->subgraph_metadata()->Get(0);
    if (g->input_tensor_metadata()) for (const auto* t : *g->input_tensor_metadata()) info.inputs.push_back(tensor_info(t));
    if (g->output_tensor_metadata()) for (const auto* t : *g->output_tensor_metadata()) info.outputs.push_back(tensor_info(t));
  }
  return info;
}

std::map<std::string, std::string> read_associated_files(std::string_view model, const std::string& origin) {
  std::map<std::string, std::string> files;
  MemFile file;
  file.view = model;
  zlib_filefunc64_def def = mem_functions(&file);
  // No end-of-central-directory record: no archive, so no associated files (as the extractor).
  unzFile zf = unzOpen2_64(nullptr, &def);
  if (!zf) return files;
  struct Closer {
    unzFile zf;
    ~Closer() { unzClose(zf); }
  } closer{zf};
  int status = unzGoToFirstFile(zf);
  while (status == UNZ_OK) {
    unz_file_info64 info;
    std::array<char, 1024> name{};
    if (unzGetCurrentFileInfo64(zf, &info, name.data(), static_cast<uLong>(name.size() - 1), nullptr, 0, nullptr, 0) != UNZ_OK) {
      fail("{}: unreadable entry in the associated files' zip archive", origin);
    }
    if (unzOpenCurrentFile(zf) != UNZ_OK) fail("{}: associated file '{}' cannot be opened in the zip archive", origin, name.data());
    // Read in chunks, never more than the entry declares: the declared size is the file's word
    // only, so memory grows with the bytes that really decompress.
    std::string contents;
    std::array<char, 1 << 16> chunk;
    int read = 0;
    while ((read = unzReadCurrentFile(zf, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0) {
      if (contents.size() + static_cast<size_t>(read) > info.uncompressed_size) break;
      contents.append(chunk.data(), static_cast<size_t>(read));
    }
    // unzCloseCurrentFile checks the CRC once the whole entry has been read.
    int closed = unzCloseCurrentFile(zf);
    if (read != 0 || contents.size() != info.uncompressed_size || closed != UNZ_OK) {
      fail("{}: associated file '{}' is corrupt in the zip archive", origin, name.data());
    }
    files[name.data()] = std::move(contents);
    status = unzGoToNextFile(zf);
  }
  if (status != UNZ_END_OF_LIST_OF_FILE) fail("{}: the associated files' zip archive is corrupt", origin);
  return files;
}

std::vector<std::string> read_output_labels(std::string_view model, size_t output, const std::string& origin) {
  auto metadata = read_model_metadata(model, origin);
  if (!metadata || output >= metadata->outputs.size()) return {};
  const AssociatedFileInfo* label_file = nullptr;
  for (const auto& f : metadata->outputs[output].associated_files) {
    if (f.type == "TENSOR_AXIS_LABELS") {
      label_file = &f;
      break;
    }
  }
  if (!label_file) return {};
  auto files = read_associated_files(model, origin);
  auto it = files.find(label_file->name);
  if (it == files.end()) fail("{}: the metadata names label file '{}', which the model does not carry", origin, label_file->name);
  if (!is_valid_utf8(it->second)) fail("{}: label file '{}' is not valid UTF-8", origin, label_file->name);
  std::vector<std::string> labels;
  std::string_view text = it->second;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    labels.emplace_back(line);
    start = end + 1;
  }
  return labels;
}

std::vector<std::string> onnx_class_names(const onnx::ModelProto& model, const std::string& origin) {
  for (const auto& p : model.metadata_props()) {
    if (p.key() != kOnnxClassNamesKey) continue;
    nlohmann::json names = nlohmann::json::parse(p.value(), nullptr, /*allow_exceptions=*/false);
    bool strings = names.is_array() && std::all_of(names.begin(), names.end(), [](const nlohmann::json& n) { return n.is_string(); });
    if (!strings) fail("{}: metadata '{}' is not a JSON array of strings", origin, kOnnxClassNamesKey);
    return names.get<std::vector<std::string>>();
  }
  return {};
}

}  // namespace litepipe::tfl
