#pragma once
// TensorFlow Lite Support's model metadata, as its metadata writers and MetadataPopulator lay it
// out and the Task Library's ModelMetadataExtractor reads it: the model's Metadata entry
// "TFLITE_METADATA" points at a buffer holding a ModelMetadata flatbuffer (file identifier M001,
// schema in schema/metadata_schema_subset.fbs), and the associated files it names (a classifier's
// label file) are packed after the model flatbuffer as an uncompressed zip archive, so the
// .tflite file is also a valid zip file. TFLite's runtime verifies the model flatbuffer over the
// whole file and ignores the bytes after it, as litepipe's interpreter does.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace onnx {
class ModelProto;
}

namespace litepipe::tfl {

inline constexpr const char* kMetadataBufferName = "TFLITE_METADATA";
inline constexpr const char* kLabelFileName = "labels.txt";
// The ONNX metadata_props key under which nn::Model::save keeps the class names (a JSON array of
// strings); the same string as nn::kClassNamesMetadataKey.
inline constexpr const char* kOnnxClassNamesKey = "litepipe.class_names";

struct AssociatedFileInfo {
  std::string name = {};
  std::string description = {};
  std::string type = {};  // the AssociatedFileType's name, e.g. TENSOR_AXIS_LABELS
  std::string locale = {};
  std::string version = {};
};

struct TensorMetadataInfo {
  std::string name = {};
  std::string description = {};
  std::string content = {};  // the ContentProperties member's name (FeatureProperties, ...), "" for none
  std::vector<float> min = {}, max = {};  // Stats
  std::vector<AssociatedFileInfo> associated_files = {};
};

// The ModelMetadata of a model (its first subgraph's tensors).
struct ModelMetadataInfo {
  std::string name = {};
  std::string description = {};
  std::string version = {};
  std::string author = {};
  std::string license = {};
  std::string min_parser_version = {};
  std::vector<TensorMetadataInfo> inputs = {}, outputs = {};  // one per SubGraph input / output, in order
  std::vector<AssociatedFileInfo> associated_files = {};  // the model's own
};

// What a classifier's metadata says (TFLite Support's ClassificationTensorMd with a LabelFileMd).
struct ClassifierMetadata {
  std::string name = {};         // ModelMetadata.name
  std::string description = {};  // ModelMetadata.description
  std::string version = {};      // ModelMetadata.version ("" for none)
  std::string author = {};
  std::string license = {};
  std::vector<std::string> class_names = {};  // written to labels.txt, one per line
};

// TFLite Support's MetadataPopulator: `model` (a .tflite file's bytes) with `metadata_buffer` (a
// ModelMetadata flatbuffer) as its TFLITE_METADATA, replacing one it has, min_parser_version
// filled in, and `files` (name -> contents) packed after the flatbuffer with the files the model
// already carries (a file of the same name is replaced). As the populator checks: one
// SubGraphMetadata with one TensorMetadata per model input and output, and every file the
// metadata names is packed. Files are stored uncompressed (the Task Library reads them in place)
// in a zip archive that minizip appends, as TFLite Support's C++ populator does.
std::string populate_metadata(const std::string& model, const std::string& metadata_buffer,
                              const std::vector<std::pair<std::string, std::string>>& files, const std::string& origin);

// TFLite Support's classifier metadata writer on `model`: feature tensor metadata for every input
// (named by the SignatureDef), and for the output whose last dimension is the number of classes
// TFLite Support's ClassificationTensorMd: "probability", content FeatureProperties, stats [0, 1]
// when it is a float32 probability, labels.txt (one class name per line) as its TENSOR_AXIS_LABELS
// file. Class names must not hold line breaks.
std::string populate_classifier_metadata(const std::string& model, const ClassifierMetadata& metadata, const std::string& origin);

// The ModelMetadata of a .tflite file's bytes, verified with the generated verifier; nullopt when
// the model has no TFLITE_METADATA entry, an Error naming `origin` when it is corrupt.
std::optional<ModelMetadataInfo> read_model_metadata(std::string_view model, const std::string& origin);

// The files packed after the model flatbuffer (name -> contents); empty when there is no zip
// archive. A corrupt archive (bad CRC, truncated entry) is an Error naming `origin`.
std::map<std::string, std::string> read_associated_files(std::string_view model, const std::string& origin);

// The labels of output `output`: its first TENSOR_AXIS_LABELS file, one label per line (a final
// empty line and DOS line ends ignored, as the Task Library reads them); empty when there is none.
std::vector<std::string> read_output_labels(std::string_view model, size_t output, const std::string& origin);

// The class names nn::Model::save keeps in an ONNX model's metadata (empty when absent).
std::vector<std::string> onnx_class_names(const onnx::ModelProto& model, const std::string& origin);

// The minimum metadata parser version of a ModelMetadata flatbuffer, by TFLite Support's rule:
// "1.0.0", or the newest schema version among the fields and values it uses.
std::string min_metadata_parser_version(std::string_view metadata_buffer);

}  // namespace litepipe::tfl
